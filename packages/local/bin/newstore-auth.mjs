#!/usr/bin/env node
// The operator CLI, run from its TypeScript sources: tsx compiles them on load.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
