// The API's objects (docs/api.md), named as the client uses them: every one is a schema of the
// OpenAPI description (docs/openapi.json, served at /api/openapi.json), through schema.d.ts,
// which `npm run gen` generates with openapi-typescript. A change of the API's shapes breaks
// `tsc --noEmit` here rather than the app at run time.
import type { components } from "./schema";

export type Schemas = components["schemas"];

export type User = Schemas["UserView"];
export type PublicUser = Schemas["PublicUserView"];
export type Session = Schemas["Session"];
export type NumberStatus = Schemas["NumberStatus"];
export type PoolNumber = Schemas["NumberView"];
export type ConversationType = Schemas["ConversationKind"];
export type ParticipantRole = Schemas["ParticipantRole"];
export type Participant = Schemas["ParticipantView"];
export type Conversation = Schemas["ConversationView"];
export type InboxLine = Schemas["InboxEntry"];
export type DeliveryStatus = Schemas["DeliveryStatus"];
export type Delivery = Schemas["DeliveryView"];
export type Message = Schemas["MessageView"];
export type ParticipantRequest = Schemas["ParticipantRequest"];
export type Contact = Schemas["ContactView"];
export type ContactPatch = Schemas["ContactPatch"];
export type ImportReport = Schemas["ImportReport"];
export type UploadTicket = Schemas["UploadTicket"];
/** A WebSocket event (docs/realtime.md). */
export type LiveEvent = Schemas["Event"];
export type DeliveryUpdate = Schemas["DeliveryUpdate"];
export type ParticipantLeft = Schemas["ParticipantLeft"];
export type Typing = Schemas["Typing"];
export type ReadUpdate = Schemas["ReadUpdate"];
