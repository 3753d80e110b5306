export * from "./broker.js";
export * from "./errors.js";
export * from "./messages.js";
export * from "./newstore.js";
export * from "./ports.js";
export * from "./schemas.js";
export * from "./settings.js";
