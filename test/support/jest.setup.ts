import { Logger } from '@nestjs/common';

// Apps and connections under test log warnings and errors only, so a test run stays readable.
// A test that asserts on log lines installs its own logger.
Logger.overrideLogger(['warn', 'error']);
