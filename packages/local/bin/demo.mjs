#!/usr/bin/env node
// `npm run demo` execs this: TypeScript runs through tsx, with no build step.
import { register } from "tsx/esm/api";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
register();
await import("../src/demo/main.ts");
