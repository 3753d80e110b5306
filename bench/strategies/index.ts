import { brokerStrategy } from "./broker.js";
import { directStrategy } from "./direct.js";
import { sharedSsmStrategy } from "./shared-ssm.js";
import type { Strategy, StrategyContext, StrategyName } from "./strategy.js";

export * from "./strategy.js";

export function createStrategy(name: StrategyName, context: StrategyContext): Strategy {
  switch (name) {
    case "direct":
      return directStrategy(context);
    case "shared-ssm":
      return sharedSsmStrategy(context);
    case "broker":
      return brokerStrategy(context);
  }
}
