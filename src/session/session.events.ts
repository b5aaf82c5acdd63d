import { SessionUser } from './session-user.js';

export interface LoginEvent {
  user: SessionUser;
}

export interface LogoutEvent {
  user: SessionUser;
  /** Why the session ended: logout, relogin, heartbeat-timeout, peer-closed, … */
  reason: string;
}
