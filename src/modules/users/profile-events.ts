import type { Database } from "../../db";
import type { Events, PresenceView } from "../../events";
import type { Logger } from "../../logger";
import { type ProfileChanges, type ProfileFields, PROFILE_FIELDS, toPublicUser, type UserRow } from "./service";

/**
 * `user.updated { user }` (the user as GET /api/users/:id shows them) to every socket of the
 * user and of everyone who shares a room with them, once a change of a field others see has
 * committed. Nothing is sent when those fields are as they were.
 */
export class ProfileEvents implements ProfileChanges {
  constructor(
    private readonly database: Database,
    private readonly events: Events,
    private readonly presence: PresenceView,
    private readonly logger: Logger,
  ) {}

  async changed(before: ProfileFields, after: UserRow): Promise<void> {
    if (PROFILE_FIELDS.every((field) => before[field] === after[field])) return;
    try {
      const others = await this.database.lookups.coMembers(after.id);
      this.events.toUsers([after.id, ...others], { type: "user.updated", user: toPublicUser(after, this.presence) });
    } catch (error) {
      // The change has committed: its answer stands; only the others' live view waits for a reload.
      this.logger.error("announcing a profile change failed", { userId: after.id, error: String(error) });
    }
  }
}
