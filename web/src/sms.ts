// How many SMS segments a text costs, and in which encoding: the same rule as the server's
// (shared/core/src/domain/message.rs, `segments`), so the composer shows what each phone will be
// billed before sending.

/** GSM 03.38 basic character set. */
const GSM7_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/** The extension table: each costs two septets (escape + character). */
const GSM7_EXTENDED = "\f^{}\\[~]|€";

export type Encoding = "gsm7" | "ucs2";

export interface Segments {
  count: number;
  encoding: Encoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) used. */
  units: number;
  /** Units left before the next segment starts. */
  remaining: number;
}

export function segments(body: string): Segments {
  let septets = 0;
  let gsm = true;
  for (const c of body) {
    if (GSM7_BASIC.includes(c)) septets += 1;
    else if (GSM7_EXTENDED.includes(c)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  const [units, single, multi, encoding]: [number, number, number, Encoding] = gsm
    ? [septets, 160, 153, "gsm7"]
    : [body.length, 70, 67, "ucs2"];
  const count = units <= single ? 1 : Math.ceil(units / multi);
  const capacity = count === 1 ? single : count * multi;
  return { count, encoding, units, remaining: capacity - units };
}

/** The text a phone receives: in a group, prefixed with the sender's name (the server's `sms_body`). */
export function smsBody(prefix: string | null, content: string): string {
  if (prefix === null) return content;
  return content ? `${prefix}: ${content}` : `${prefix}:`;
}

export function encodingName(encoding: Encoding): string {
  return encoding === "gsm7" ? "GSM-7" : "UCS-2";
}
