// settings holds EventBridge's own JSON patterns (what the local runtime sends to the API);
// CDK and SST spell `detail-type` as `detailType` and render it back.
export interface JsonPattern {
  source?: string[];
  "detail-type"?: string[];
  detail?: Record<string, unknown>;
}

export function toCdkPattern({ "detail-type": detailType, ...rest }: JsonPattern) {
  return { ...rest, ...(detailType && { detailType }) };
}
