import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';

const ORGANIZER_ID = /^[a-z0-9-]{1,32}$/;
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export class ListTripsQuery {
  @IsOptional() @IsString() @MinLength(1) @MaxLength(64)
  destination?: string;

  @IsOptional() @Matches(ORGANIZER_ID, { message: 'organizerId must be an organizer id such as "alpine"' })
  organizerId?: string;

  @IsOptional() @Type(() => Number) @IsInt() @Min(0)
  maxPriceCents?: number;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000)
  page?: number;

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(50)
  pageSize?: number;
}

export class TripIdParams {
  @Type(() => Number) @IsInt() @Min(1)
  id!: number;
}

export class CreateTripDto {
  @IsString() @MinLength(3) @MaxLength(120)
  title!: string;

  @IsString() @MinLength(2) @MaxLength(64)
  destination!: string;

  @Matches(ORGANIZER_ID, { message: 'organizerId must be an organizer id such as "alpine"' })
  organizerId!: string;

  @IsInt() @Min(0) @Max(10_000_000)
  priceCents!: number;

  @Matches(DATE, { message: 'startsOn must be a date as YYYY-MM-DD' })
  startsOn!: string;

  @IsInt() @Min(1) @Max(500)
  seats!: number;
}

export class UpdateTripDto {
  @IsOptional() @IsString() @MinLength(3) @MaxLength(120)
  title?: string;

  @IsOptional() @IsString() @MinLength(2) @MaxLength(64)
  destination?: string;

  @IsOptional() @IsInt() @Min(0) @Max(10_000_000)
  priceCents?: number;

  @IsOptional() @Matches(DATE, { message: 'startsOn must be a date as YYYY-MM-DD' })
  startsOn?: string;

  @IsOptional() @IsInt() @Min(1) @Max(500)
  seats?: number;
}

export class CreateBookingDto {
  @IsInt() @Min(1) @Max(10)
  seats!: number;
}
