// proxy-from-env ships no type declarations; this is the one function the agent calls.
declare module 'proxy-from-env' {
  /** The proxy URL for `url` from the *_proxy / no_proxy variables in process.env, or '' for a direct connection. */
  export function getProxyForUrl(url: string | { protocol: string; host: string; port: string }): string;
}
