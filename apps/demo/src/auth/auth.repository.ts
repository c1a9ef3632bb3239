import { Injectable } from '@nestjs/common';
import { DemoDatabase } from '../database/database.service.js';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'member';
  password_hash: string;
}

@Injectable()
export class UsersRepository {
  constructor(private readonly db: DemoDatabase) {}

  findByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.get<UserRow>('SELECT * FROM users WHERE email = ? COLLATE NOCASE', [email]);
  }

  findById(id: string): Promise<UserRow | undefined> {
    return this.db.get<UserRow>('SELECT * FROM users WHERE id = ?', [id]);
  }
}
