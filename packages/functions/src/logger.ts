import { Logger } from "@aws-lambda-powertools/logger";
import type { Logger as LogPort } from "@newstore-auth/core/ports";

/** Powertools' structured JSON logger behind core's logging port. */
export function powertoolsLogger(serviceName: string): LogPort {
  const logger = new Logger({ serviceName });
  return {
    debug: (message, attributes = {}) => logger.debug(message, attributes),
    info: (message, attributes = {}) => logger.info(message, attributes),
    warn: (message, attributes = {}) => logger.warn(message, attributes),
    error: (message, attributes = {}) => logger.error(message, attributes),
  };
}
