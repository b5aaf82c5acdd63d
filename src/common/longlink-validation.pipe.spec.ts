import 'reflect-metadata';
import type { ArgumentMetadata, ValidationError } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, MaxLength, Min, ValidateNested } from 'class-validator';
import { LonglinkException } from '../transport/longlink.exception.js';
import { describeValidationErrors, LonglinkValidationPipe } from './longlink-validation.pipe.js';

class DeviceDto {
  @IsString()
  model!: string;
}

class ProfileDto {
  @IsString()
  name!: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => DeviceDto)
  device?: DeviceDto;
}

class TagDto {
  @IsString()
  @MaxLength(8)
  label!: string;
}

class LoginDto {
  @IsString()
  token!: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  version?: number;

  @IsOptional()
  @ValidateNested()
  @Type(() => ProfileDto)
  profile?: ProfileDto;

  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => TagDto)
  tags?: TagDto[];
}

const asBody = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({
  type: 'body',
  metatype,
});

/** Runs the pipe expecting a LonglinkException, and returns it for assertions. */
async function rejection(value: unknown, metatype = LoginDto): Promise<LonglinkException> {
  const pipe = new LonglinkValidationPipe();
  try {
    await pipe.transform(value, asBody(metatype));
  } catch (error) {
    expect(error).toBeInstanceOf(LonglinkException);
    return error as LonglinkException;
  }
  throw new Error('expected the pipe to reject the body');
}

describe('LonglinkValidationPipe', () => {
  it('rejects a wrongly typed field with bad-request naming the field', async () => {
    const error = await rejection({ token: 42 });
    expect(error.code).toBe('bad-request');
    expect(error.message).toBe('token: token must be a string');
    expect(error.getError()).toEqual({
      code: 'bad-request',
      message: 'token: token must be a string',
      close: false,
    });
  });

  it('rejects a missing required field, naming it', async () => {
    const error = await rejection({});
    expect(error.code).toBe('bad-request');
    expect(error.message).toMatch(/^token: /);
  });

  it('names a nested field by its dotted path', async () => {
    const error = await rejection({ token: 't', profile: { name: 5 } });
    expect(error.code).toBe('bad-request');
    expect(error.message).toBe('profile.name: name must be a string');
  });

  it('names a field two levels deep by its dotted path', async () => {
    const error = await rejection({ token: 't', profile: { name: 'n', device: { model: [] } } });
    expect(error.message).toBe('profile.device.model: model must be a string');
  });

  it('names an element of a nested array by its index', async () => {
    const error = await rejection({
      token: 't',
      tags: [{ label: 'ok' }, { label: 'far-too-long' }],
    });
    expect(error.message).toBe('tags.1.label: label must be shorter than or equal to 8 characters');
  });

  it('reports only the first broken constraint of each field, every field joined by "; "', async () => {
    const error = await rejection({ token: 1, version: -1.5 });
    const parts = error.message.split('; ');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe('token: token must be a string');
    expect(parts[1]).toMatch(/^version: /);
  });

  it('does not close the connection for a bad body', async () => {
    const error = await rejection({ token: null });
    expect(error.close).toBe(false);
  });

  it('rejects a body that is not an object for a DTO with bad-request', async () => {
    for (const body of ['just a string', 42, [1, 2]]) {
      const error = await rejection(body);
      expect(error.code).toBe('bad-request');
      expect(error.message.length).toBeGreaterThan(0);
    }
  });

  it('passes a valid body through as an instance of its DTO, nested DTOs included', async () => {
    const pipe = new LonglinkValidationPipe();
    const body = {
      token: 'abc',
      version: 2,
      profile: { name: 'ann', device: { model: 'x1' } },
      tags: [{ label: 'a' }],
    };
    const out = (await pipe.transform(body, asBody(LoginDto))) as LoginDto;
    expect(out).toBeInstanceOf(LoginDto);
    expect(out.profile).toBeInstanceOf(ProfileDto);
    expect(out.profile!.device).toBeInstanceOf(DeviceDto);
    expect(out.tags![0]).toBeInstanceOf(TagDto);
    expect({ ...out, profile: { ...out.profile, device: { ...out.profile!.device } } }).toEqual(
      body,
    );
  });

  it('strips properties the DTO does not declare', async () => {
    const pipe = new LonglinkValidationPipe();
    const out = (await pipe.transform(
      { token: 'abc', admin: true, profile: { name: 'n', extra: 1 } },
      asBody(LoginDto),
    )) as LoginDto & { admin?: boolean };
    expect(out.token).toBe('abc');
    expect(out).not.toHaveProperty('admin');
    expect(out.profile).not.toHaveProperty('extra');
  });

  it('leaves values for primitive or missing metatypes untouched', async () => {
    const pipe = new LonglinkValidationPipe();
    const raw = { anything: [1, 'x'] };
    expect(await pipe.transform(raw, asBody(Object))).toBe(raw);
    expect(await pipe.transform(raw, { type: 'body' })).toBe(raw);
    expect(await pipe.transform('text', asBody(String))).toBe('text');
  });
});

describe('describeValidationErrors', () => {
  function err(
    property: string,
    constraints?: Record<string, string>,
    children: ValidationError[] = [],
  ): ValidationError {
    return { property, constraints, children };
  }

  it('describes nothing for no errors', () => {
    expect(describeValidationErrors([])).toEqual([]);
  });

  it("takes the topmost decorator's message of each field (class-validator lists it last), prefixed by its name", () => {
    expect(
      describeValidationErrors([
        err('token', { isNotEmpty: 'token is empty', isString: 'token must be a string' }),
        err('version', { isInt: 'version must be an integer' }),
      ]),
    ).toEqual(['token: token must be a string', 'version: version must be an integer']);
  });

  it('dots the path of nested errors and skips parents without constraints', () => {
    expect(
      describeValidationErrors([
        err('profile', undefined, [
          err('device', {}, [err('model', { isString: 'model must be a string' })]),
          err('name', { isString: 'name must be a string' }),
        ]),
      ]),
    ).toEqual([
      'profile.device.model: model must be a string',
      'profile.name: name must be a string',
    ]);
  });

  it('reports a parent constraint before those of its children', () => {
    expect(
      describeValidationErrors([
        err('tags', { arrayMaxSize: 'too many tags' }, [
          err('0', undefined, [err('label', { maxLength: 'label too long' })]),
        ]),
      ]),
    ).toEqual(['tags: too many tags', 'tags.0.label: label too long']);
  });

  it('prefixes every path with the given parent', () => {
    expect(describeValidationErrors([err('a', { x: 'bad' })], 'root')).toEqual(['root.a: bad']);
  });
});
