export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/** fetch with a JSON body (or raw text), returning the parsed JSON answer. */
export async function request(
  url: string,
  init: { method?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...init.headers };
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  if (response.headers.get('content-type')?.includes('json')) parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, body: parsed };
}

export const submit = (baseUrl: string, text: string, options?: { maxSentences: number }, headers?: Record<string, string>) =>
  request(`${baseUrl}/v1/jobs`, { json: options ? { text, options } : { text }, ...(headers ? { headers } : {}) });
