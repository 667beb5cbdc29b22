// The API's objects (docs/api.md), as the client uses them.
// TODO(openapi): alias these to components["schemas"] of the generated schema.d.ts.

export type Role = "user" | "admin";

export interface User {
  id: string;
  username: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  phoneNumber: string | null;
  virtualPhoneNumber: string | null;
  role: Role;
  active: boolean;
  createdAt: string;
}

export interface PublicUser {
  id: string;
  username: string;
  firstName: string | null;
  lastName: string | null;
  virtualPhoneNumber: string | null;
}

export interface Session {
  token: string;
  refreshToken: string;
  expiresIn: number;
  user: User;
}

export type NumberStatus = "free" | "assigned" | "proxy";

export interface PoolNumber {
  phoneNumber: string;
  status: NumberStatus;
  ownerId: string | null;
  routeCount: number | null;
  addedAt: string;
  assignedAt: string | null;
}

export type ConversationType = "direct" | "sms" | "group";
export type ParticipantRole = "admin" | "member";

export interface Participant {
  id: string;
  kind: "user" | "sms";
  userId?: string | null;
  phoneNumber?: string | null;
  displayName: string | null;
  role: ParticipantRole;
  proxyNumber?: string | null;
  joinedAt: string;
}

export interface Conversation {
  id: string;
  type: ConversationType;
  name: string | null;
  description: string | null;
  status: "active" | "closed";
  createdAt: string;
  lastMessageAt: string | null;
  lastMessagePreview: string | null;
  participants: Participant[];
}

export interface InboxLine {
  id: string;
  type: ConversationType;
  name: string | null;
  status: "active" | "closed";
  role: ParticipantRole;
  lastMessageAt: string | null;
  lastMessagePreview: string | null;
}

export type DeliveryStatus =
  | "pending"
  | "accepted"
  | "queued"
  | "sending"
  | "sent"
  | "delivered"
  | "undelivered"
  | "failed"
  | "read"
  | "opted_out";

export interface Delivery {
  id: string;
  participantId: string;
  phoneNumber: string;
  from: string | null;
  status: DeliveryStatus;
  twilioSid: string | null;
  errorCode: number | null;
  errorMessage: string | null;
  segments: number;
  encoding: "gsm7" | "ucs2";
  updatedAt: string;
}

export interface Sender {
  kind: "user" | "sms" | "system";
  userId?: string | null;
  phoneNumber?: string | null;
  displayName: string | null;
}

export interface Message {
  id: string;
  conversationId: string;
  sender: Sender;
  content: string;
  mediaUrls: string[];
  createdAt: string;
  editedAt: string | null;
  deleted: boolean;
  status?: string | null;
  deliveries: Delivery[];
}
