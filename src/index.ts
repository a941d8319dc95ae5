/**
 * The core: the structured selector, supervision, timeouts, retry, `any`, the clock in context,
 * errors, task labels, and the primitives adapters are built from (routine groups, timer sets,
 * wake cells, bounded queues).
 *
 * @module bough
 */
export { any } from "./core/any.js";
export { awaitPromise } from "./core/await-promise.js";
export {
  type Backoff,
  backoffDelay,
} from "./core/backoff.js";
export {
  BoundedQueue,
  type BoundedQueueOptions,
  createBoundedQueue,
  OVERFLOW_POLICIES,
  type OverflowPolicy,
} from "./core/bounded-queue.js";
export {
  type Clock,
  ClockContext,
  delay,
  realClock,
  useClock,
} from "./core/clock.js";
export {
  BoughError,
  CursorExpiredError,
  describeError,
  InvalidCursorError,
  isHalted,
  SelectorClosedError,
  SelectorEmptyError,
  SupervisorGaveUpError,
  TimeoutError,
} from "./core/errors.js";
export {
  closeLabel,
  failLabel,
  itemName,
  type LabelAttribute,
  type LabelChange,
  type LabelFailure,
  type LabelNode,
  type LabelOptions,
  type LabelState,
  type LabelTree,
  label,
  labelled,
  labelOf,
  labelPath,
  labelRoot,
  labelsWatched,
  labelTraceparent,
  labelTree,
  openLabel,
  provideTraceparent,
  recentFailures,
  setLabelState,
  watchedAs,
  watchLabels,
  withLabelNode,
} from "./core/labels.js";
export {
  createLeasable,
  LEASE,
  type Leasable,
  LeasableOperation,
  type Lease,
  type LeaseOptions,
  openLease,
  withLease,
} from "./core/lease.js";
export {
  type PanelSnapshot,
  type PanelValue,
  readPanels,
  usePanel,
} from "./core/panels.js";
export {
  type RetryOptions,
  retry,
} from "./core/retry.js";
export {
  RoutineGroup,
  type RoutineMember,
  type RoutineReports,
} from "./core/routine-group.js";
export {
  type Selected,
  type Selector,
  type SelectorItem,
  useSelector,
} from "./core/selector.js";
export {
  type SuperviseOptions,
  supervise,
} from "./core/supervise.js";
export { withTimeout } from "./core/timeout.js";
export {
  createTimerSet,
  type Deadline,
  type PeriodicMember,
  TimerSet,
} from "./core/timer-set.js";
export {
  createWakeCell,
  WakeCell,
  type WakeTiming,
} from "./core/wake-cell.js";
export { yieldToEventLoop } from "./core/yield-to-event-loop.js";
