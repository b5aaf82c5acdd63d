import { SessionUser } from './session-user.js';

export interface LoginEvent {
  user: SessionUser;
  /** The last inbox seq the client said it holds at login, if it said. */
  lastSeq?: number;
}

export interface LogoutEvent {
  user: SessionUser;
  /** Why the session ended: logout, relogin, heartbeat-timeout, peer-closed, … */
  reason: string;
}
