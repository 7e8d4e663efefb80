import { z } from 'zod';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';

export const LoginInput = z
  .object({ username: z.string().min(1).max(200), password: z.string().min(1).max(500) })
  .strict();
export const LoginOutput = z.object({ token: z.string(), expires_at: z.string() });

export const authRouter = router({
  login: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/auth/login',
        tags: ['auth'],
        summary: 'Log in and get a JWT (24 h)',
        protect: false,
      },
    })
    .input(LoginInput)
    .output(LoginOutput)
    .mutation(({ ctx, input }) => ctx.services.auth.login(ctx.ip, input)),
  logout: authedProcedure
    .meta({
      status: 204,
      openapi: {
        method: 'POST',
        path: '/auth/logout',
        tags: ['auth'],
        summary: 'Revoke every admin token issued so far (this one too)',
      },
    })
    .input(z.object({}).strict().optional())
    .output(z.void())
    .mutation(({ ctx }) => ctx.services.auth.logout()),
});
