import { Controller, Get, UseGuards } from '@nestjs/common';
import { AdminGuard, AuthGuard } from '../auth/auth.guard.js';
import { AdminService } from './admin.service.js';

@Controller('admin')
@UseGuards(AuthGuard, AdminGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('stats')
  stats() {
    return this.admin.stats();
  }
}
