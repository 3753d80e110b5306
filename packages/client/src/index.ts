export { createTokenClient, type RotationNotice, type Token, type TokenClient, type TokenClientOptions, type TokenClientStats } from "./client.js";
export { createTokenClientFromEnv } from "./env.js";
export { TokenRequestFailedError, TokenTimeoutError } from "./errors.js";
export type { ConsumerPorts, Reply } from "./ports.js";
export type { AwsClients } from "./aws.js";
