import { Logger } from "@aws-lambda-powertools/logger";
import type { Logger as LogPort } from "@newstore-auth/core/ports";
import { redact } from "@newstore-auth/core/redact";

/**
 * Powertools' structured JSON logger behind core's logging port, with secrets redacted by key. A
 * line about requests carries their ids as `correlation_ids`, for searching one request's story.
 */
export function powertoolsLogger(serviceName: string): LogPort {
  const logger = new Logger({ serviceName });
  const shape = (attributes: Record<string, unknown> = {}) => {
    const { requestId, requestIds, ...rest } = redact(attributes);
    const ids = [...(typeof requestId === "string" ? [requestId] : []), ...(Array.isArray(requestIds) ? requestIds : [])];
    return ids.length ? { ...rest, correlation_ids: ids } : rest;
  };
  return {
    debug: (message, attributes) => logger.debug(message, shape(attributes)),
    info: (message, attributes) => logger.info(message, shape(attributes)),
    warn: (message, attributes) => logger.warn(message, shape(attributes)),
    error: (message, attributes) => logger.error(message, shape(attributes)),
  };
}
