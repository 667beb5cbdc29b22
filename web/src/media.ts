// Photos attached to a message: what the composer accepts before anything is uploaded. The same
// limits as the API's (`POST /api/uploads`, issue 18): Twilio's fully supported MMS picture types,
// at most 10 files and 5 MB in total per message. The bucket enforces type and size anyway (the
// presigned PUT's signature binds both); these checks only say so before the upload.

export const MEDIA_TYPES = ["image/jpeg", "image/png", "image/gif"] as const;
export const MAX_FILES = 10;
export const MAX_TOTAL_BYTES = 5 * 1024 * 1024; // 5,242,880

/** A file chosen in the composer, with its preview and, once PUT, its upload id. */
export interface Attachment {
  key: string;
  file: File;
  preview: string;
  uploadId?: string;
}

/** "1.2 MB", "830 KB", "12 bytes". */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
}

/**
 * Which of `chosen` may join `current`: each file in order if its type is one of MEDIA_TYPES and
 * it keeps the message within MAX_FILES and MAX_TOTAL_BYTES; a sentence for each one refused.
 */
export function admit(current: readonly File[], chosen: readonly File[]): { accepted: File[]; refused: string[] } {
  const accepted: File[] = [];
  const refused: string[] = [];
  let count = current.length;
  let total = current.reduce((sum, f) => sum + f.size, 0);
  for (const file of chosen) {
    const name = file.name || "(no name)";
    if (!(MEDIA_TYPES as readonly string[]).includes(file.type)) {
      refused.push(`“${name}” is not a JPEG, PNG or GIF picture: only those can be sent.`);
    } else if (count >= MAX_FILES) {
      refused.push(`“${name}” was not added: at most ${MAX_FILES} pictures per message.`);
    } else if (total + file.size > MAX_TOTAL_BYTES) {
      refused.push(
        `“${name}” (${sizeText(file.size)}) was not added: at most 5 MB of pictures per message (${sizeText(
          Math.max(0, MAX_TOTAL_BYTES - total),
        )} left).`,
      );
    } else {
      accepted.push(file);
      count += 1;
      total += file.size;
    }
  }
  return { accepted, refused };
}

/** Whether a message's media item is shown as a picture: an image type the server named. */
export function isImage(contentType: string | undefined): boolean {
  return !!contentType && contentType.toLowerCase().startsWith("image/");
}
