/** Ceiling (a): pub/sub with the same frames as ours, no authentication, nothing persisted. */
import { serveCeiling } from "./pubsub";

serveCeiling(null);
