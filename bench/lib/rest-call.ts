// One REST call with a Bearer token, as the bench's setup and its REST load make it: GET, or POST
// with a JSON body; the parsed answer, or an error with the status and the start of the body.
export const restCall = async (apiUrl: string, token: string, path: string, body?: unknown): Promise<any> => {
  const response = await fetch(`${apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} ${text.slice(0, 200)}`);
  return text === '' ? undefined : JSON.parse(text);
};
