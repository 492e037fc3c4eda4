import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { IdParam, Text } from "../schemas";
import { FileView } from "../files/model";
import { UserRef } from "../users/model";

export const MessageStatus = t.Union([t.Literal("sent"), t.Literal("delivered"), t.Literal("read")], {
  description:
    "Direct rooms only, the same for both members: `sent` once committed, `delivered` once a socket of the other member " +
    "received it, `read` once the other member's read position covers it",
});
export type MessageStatus = typeof MessageStatus.static;

/**
 * Integers of responses and frames: TypeBox's own. Elysia's t.Integer also accepts numeric
 * strings (for query strings) through a transform, and one transform anywhere in a response
 * schema makes Elysia encode the whole response value by value: a fifth of the CPU of a history
 * page of 50 messages.
 */
const Int = Type.Integer;

export const Reaction = t.Object({
  emoji: t.String({ examples: ["👍", ":party_parrot:"] }),
  count: Int({ minimum: 1 }),
  me: t.Boolean({
    description: "Whether the caller reacted with it. Always false in real-time events, which every member receives alike.",
  }),
});
export type Reaction = typeof Reaction.static;

export const Metadata = t.Record(t.String(), t.Unknown(), {
  description: "Any JSON object the client wants kept with the message; at most 4 KiB serialized (METADATA_MAX_BYTES)",
});

export const Message = t.Object(
  {
    id: t.String(),
    roomId: t.String(),
    seq: Int({ minimum: 1, description: "1, 2, 3 … per room, without gaps, in commit order" }),
    senderId: t.String(),
    sender: UserRef,
    content: t.String({ description: "Empty once the message is deleted" }),
    metadata: t.Nullable(Metadata),
    replyToId: t.Nullable(t.String({ description: "The message this one answers, in the same room" })),
    replyCount: Int({ minimum: 0, description: "Replies ever posted to this message (deleted ones stay in the thread)" }),
    reactions: t.Array(Reaction, { description: "Per emoji, in the order they were first used" }),
    attachments: t.Array(FileView, { description: "Files attached, in the order sent, with links for the reader; none once deleted" }),
    clientId: t.Nullable(t.String()),
    createdAt: t.String({ format: "date-time" }),
    editedAt: t.Nullable(t.String({ format: "date-time" })),
    deletedAt: t.Nullable(t.String({ format: "date-time" })),
    status: t.Optional(MessageStatus),
    readCount: t.Optional(
      Int({
        minimum: 0,
        description:
          "Group rooms and channels only: how many members other than the sender have a read position at or past this " +
          "message's seq. Live, a `read { userId, seq, previousSeq }` adds one to the messages with previousSeq < seq' ≤ seq " +
          "not sent by userId; a `message.new` moves its sender's read position to its seq the same way",
      }),
    ),
  },
  { description: "A message; a deleted one keeps its id and seq with content and metadata emptied" },
);
export type Message = typeof Message.static;

/**
 * Metadata as sent. Typed `unknown` on purpose: Elysia's default normalizer would mirror a
 * t.Record over whatever arrives (a string or an array becomes an object) before validation,
 * so the service checks that it is an object within the size limit instead.
 */
const MetadataInput = t.Unknown({
  description: "A JSON object (or null), at most 4 KiB serialized (METADATA_MAX_BYTES); anything else is refused with 422",
});

export const SendMessageBody = t.Object(
  {
    content: Text({ description: "1–4000 characters after trimming (MESSAGE_MAX_LENGTH); may be empty with attachments" }),
    metadata: t.Optional(MetadataInput),
    attachments: t.Optional(
      t.Array(Text({ minLength: 1, maxLength: 64 }), { maxItems: 10, description: "Ids of at most 10 of your own uploaded files (`POST /api/files`)" }),
    ),
    replyToId: t.Optional(t.Nullable(Text({ maxLength: 64, description: "A live message of the same room" }))),
    clientId: t.Optional(
      t.Nullable(
        Text({
          minLength: 1,
          maxLength: 128,
          description: "Chosen by the client; a retry with the same clientId in the same room returns the first message",
        }),
      ),
    ),
  },
  { additionalProperties: false },
);
export type SendMessageBody = typeof SendMessageBody.static;

export const EditMessageBody = t.Object(
  { content: Text({ description: "1–4000 characters after trimming" }) },
  { additionalProperties: false },
);

export const MessageEdit = t.Object({
  content: t.String({ description: "The content as it was" }),
  editedAt: t.String({ format: "date-time", description: "When that content was written (sent or edited)" }),
});
export type MessageEdit = typeof MessageEdit.static;

const Limit = t.Integer({ minimum: 1, maximum: 200, default: 50 });

export const HistoryQuery = t.Object({
  before: t.Optional(t.Integer({ minimum: 1, description: "The page just older than this seq (default: the newest page)" })),
  after: t.Optional(t.Integer({ minimum: 0, description: "The page just newer than this seq; 0 starts at the oldest" })),
  limit: t.Optional(Limit),
});

export const RepliesQuery = t.Object({
  after: t.Optional(t.Integer({ minimum: 0, description: "Replies with a seq above this one (default: from the first reply)" })),
  limit: t.Optional(Limit),
});

export const MessagePage = t.Object({
  messages: t.Array(Message, { description: "In ascending seq" }),
  hasMore: t.Boolean({
    description:
      "With `after`: newer messages exist beyond this page. Otherwise: older messages exist before it.",
  }),
});
export type MessagePage = typeof MessagePage.static;

export const SearchQuery = t.Object({
  q: Text({
    minLength: 1,
    maxLength: 200,
    description: "Words to find (all of them; the last one also as a prefix). Punctuation is ignored.",
  }),
  roomId: t.Optional(Text({ maxLength: 64, description: "Only this room (still only if I am a member)" })),
  limit: t.Optional(Limit),
  cursor: t.Optional(t.String({ maxLength: 200 })),
});

export const SearchPage = t.Object({
  messages: t.Array(Message, { description: "Newest first; at most 100, and fewer than asked (even none) when the search stopped at its budget" }),
  nextCursor: t.Nullable(t.String({ description: "Where to go on from; null once everything was searched" })),
});
export type SearchPage = typeof SearchPage.static;

export const IdParams = t.Object({ id: IdParam("Message") });

/** 409 of a reaction: the error envelope; `details` names the limit a new emoji would pass. */
export const ReactionConflict = t.Object(
  {
    error: t.Object({
      code: t.Literal("CONFLICT"),
      message: t.String(),
      details: t.Optional(
        t.Object({
          limit: t.Union([t.Literal("emojiPerUser"), t.Literal("emojiPerMessage")], {
            description: "`emojiPerUser`: the caller already put `max` different emoji on the message; `emojiPerMessage`: the message already carries `max` different emoji",
          }),
          max: t.Integer({ examples: [20, 50] }),
        }),
      ),
    }),
  },
  {
    description:
      "The message was deleted (no `details`), or the new emoji would pass a limit: 20 different emoji per user on one " +
      "message, 50 different emoji per message. Reacting with an emoji the message already carries never passes the second.",
  },
);
export const ReactionParams = t.Object({
  id: IdParam("Message"),
  emoji: t.String({
    maxLength: 64,
    description:
      "One emoji (URL-encoded), or a `:shortcode:` of 1–32 of a–z 0–9 _ + -. An emoji is kept in its RGI form (Unicode's " +
      "fully-qualified sequence), so spellings that differ only in U+FE0F selectors are one reaction; fragments such as a " +
      "lone skin tone or regional indicator, and text characters without U+FE0F (`©`), are refused",
  }),
});

export const ReportBody = t.Object({ reason: Text({ minLength: 1, maxLength: 1000, description: "1–1000 characters" }) });

export const ReportCreated = t.Object(
  { id: t.String(), status: t.Literal("open") },
  { description: "The caller's open report of the message" },
);

export const MessageRead = t.Object({
  user: UserRef,
  readAt: t.Optional(t.String({ format: "date-time", description: "not recorded by this server: always absent" })),
});
export type MessageRead = typeof MessageRead.static;
