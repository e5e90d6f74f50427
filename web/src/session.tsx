// The signed-in person. Loads `/auth/me` on start; when any request meets an
// expired or missing session, remembers where the person was (the path only:
// paths carry ids, never data) and sends them to sign-in, then back.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { call, setCsrfToken, setUnauthorizedHandler, type Me } from './api/client';
import { currentPath, navigate } from './router';

const RETURN_KEY = 'clinlabel.returnTo';
const PUBLIC_PATHS = ['/sign-in', '/setup'];

export function rememberReturnPath(path = currentPath()) {
  if (!PUBLIC_PATHS.includes(path)) sessionStorage.setItem(RETURN_KEY, path);
}
/** The remembered path (and forgets it); only same-origin absolute paths. */
export function takeReturnPath(): string {
  const p = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  return p && p.startsWith('/') && !p.startsWith('//') && !PUBLIC_PATHS.includes(p) ? p : '/';
}

interface SessionApi {
  me: Me | null;
  loading: boolean;
  /** Why the person was sent to sign-in, if they were. */
  notice: string | null;
  signedIn(me: Me): void;
  signOut(): Promise<void>;
}

const Ctx = createContext<SessionApi | null>(null);
export function useSession(): SessionApi {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
/** The signed-in person (only inside signed-in pages). */
export function useMe(): Me {
  const me = useSession().me;
  if (!me) throw new Error('useMe without a session');
  return me;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const [notice, setNotice] = useState<string | null>(null);
  // Whether this tab had a session: a 401 then means it ended (expired, signed
  // out elsewhere, password changed), whatever the code says.
  const had = useRef(false);
  had.current = me !== null;

  useEffect(() => {
    setUnauthorizedHandler(() => {
      // Several requests in flight may meet the ended session: act on the first.
      if (!had.current) return;
      had.current = false;
      rememberReturnPath();
      setCsrfToken(null);
      setMe(null);
      setNotice('Your session has ended. Sign in again to continue where you were.');
      navigate('/sign-in', { replace: true });
    });
    call('get', '/auth/me', { quiet401: true })
      .then((m) => {
        setCsrfToken(m.csrf_token);
        setMe(m);
      })
      .catch(() => setMe(null))
      .finally(() => setLoading(false));
    return () => setUnauthorizedHandler(null);
  }, []);

  const signedIn = useCallback((m: Me) => {
    setCsrfToken(m.csrf_token);
    setNotice(null);
    setMe(m);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await call('post', '/auth/logout', { quiet401: true });
    } catch {
      // Already signed out on the server: nothing else to do.
    }
    sessionStorage.removeItem(RETURN_KEY);
    setCsrfToken(null);
    setNotice('You have signed out.');
    setMe(null);
    navigate('/sign-in', { replace: true });
  }, []);

  const api = useMemo(() => ({ me, loading, notice, signedIn, signOut }), [me, loading, notice, signedIn, signOut]);
  return <Ctx.Provider value={api}>{children}</Ctx.Provider>;
}
