import { describe, expect, it } from '@jest/globals';
import { Controller, Get, Post, Version } from '@nestjs/common';
import { controllerTemplate, routeTemplate } from './route-template.js';

@Controller('trips')
class TripsController {
  @Get(':id')
  one(): void {}

  @Post()
  create(): void {}

  @Version('2')
  @Get(['list', 'all'])
  list(): void {}

  plain(): void {}
}

@Controller()
class RootController {
  @Get('/health/')
  health(): void {}
}

describe('routeTemplate', () => {
  it('names a route by its method and declared path, not by class or method names', () => {
    expect(routeTemplate(TripsController, TripsController.prototype.one)).toBe('GET /trips/:id');
    expect(routeTemplate(TripsController, TripsController.prototype.create)).toBe('POST /trips');
    expect(routeTemplate(RootController, RootController.prototype.health)).toBe('GET /health');
  });

  it('puts the version in front and takes the first of several paths', () => {
    expect(routeTemplate(TripsController, TripsController.prototype.list)).toBe('v2 GET /trips/list');
  });

  it('is undefined for a method that is not a route, and names the controller path', () => {
    expect(routeTemplate(TripsController, TripsController.prototype.plain)).toBeUndefined();
    expect(controllerTemplate(TripsController)).toBe('/trips');
    expect(controllerTemplate(RootController)).toBe('/');
    expect(controllerTemplate(class NotAController {})).toBeUndefined();
  });
});
