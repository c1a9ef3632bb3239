import { IsEmail, IsNotEmpty, IsString, Matches, MaxLength } from 'class-validator';

export class LoginDto {
  @IsEmail()
  @MaxLength(254)
  email!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  password!: string;
}

export class RefreshDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(512)
  refreshToken!: string;
}

export class SessionHandleParams {
  // The form of SessionService.list() handles (SHA-256, base64url).
  @Matches(/^[A-Za-z0-9_-]{43}$/, { message: 'id must be a session handle from GET /auth/sessions' })
  id!: string;
}
