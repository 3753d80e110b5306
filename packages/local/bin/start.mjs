#!/usr/bin/env node
// `npm start` execs this: TypeScript runs through tsx, with no build step.
import { register } from "tsx/esm/api";

// The project runs on Node 20; the SDK's notice about its future Node 22 floor is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
register();
await import("../src/start/main.ts");
