// Native ESM mode: Nest 12 ships ESM only, so jest must run under --experimental-vm-modules.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  moduleNameMapper: {
    // Tests import the library by its package name, resolved to the sources so no build is needed.
    '^nestjs-redis-kit$': '<rootDir>/libs/redis/src/index.ts',
    '^nestjs-redis-kit/health$': '<rootDir>/libs/redis/src/health/index.ts',
    '^nestjs-redis-kit/metrics$': '<rootDir>/libs/redis/src/metrics/index.ts',
    // The one Redis launcher and test helpers (test/support), by the same alias as in tsconfig.json.
    '^@nestjs-redis-kit/test-support$': '<rootDir>/test/support/index.ts',
    '^nestjs-redis-kit/websockets$': '<rootDir>/libs/redis/src/websockets/index.ts',
    '^nestjs-redis-kit/microservices$': '<rootDir>/libs/redis/src/microservices/index.ts',
    '^nestjs-redis-kit/socket\\.io$': '<rootDir>/libs/redis/src/socket-io/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
  },
  setupFiles: ['<rootDir>/test/support/jest.setup.ts'],
  testTimeout: 60_000,
  maxWorkers: 2,
};
