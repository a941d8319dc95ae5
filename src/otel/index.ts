/**
 * OpenTelemetry spans that follow bough's task tree. `@opentelemetry/api` is
 * an optional peer dependency, loaded only through this entry.
 *
 * @module bough/otel
 */
export { formatTraceparent, parseTraceparent } from "./traceparent.js";
export {
  type EnabledTracing,
  enableTracing,
  type Tracing,
  type TracingOptions,
  useTracing,
} from "./tracing.js";
