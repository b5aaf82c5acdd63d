import { ArgumentsHost, Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';
import { ErrorBody } from '../../src/transport/longlink.exception';

export class TeapotError extends Error {}

/** Maps a domain error to an ERROR PDU code: shows exception filters apply. */
@Catch(TeapotError)
export class TeapotFilter implements RpcExceptionFilter<TeapotError> {
  catch(exception: TeapotError, _host: ArgumentsHost): Observable<never> {
    return throwError(() => ({ code: 'teapot', message: exception.message }) satisfies ErrorBody);
  }
}
