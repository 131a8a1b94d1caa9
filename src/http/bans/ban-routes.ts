import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { MqttBans, MqttBanView } from '../../registry/index.ts';
import { apiOperation, errors } from '../route-kit.ts';

// The broker's connect bans of the caller's tenant (docs/limits.md): a client id with the
// certificate (or token) it was refused with too often. Bans of a source address name no tenant
// and are not listed here (they expire on their own; docs/limits.md says why).

const bansTag = apiOperation('bans');

export const BanResource = Type.Object({
  id: Type.String({ description: '24 lowercase hex characters' }),
  kind: Type.Literal('clientId'),
  clientId: Type.String(),
  certificateFingerprint: Type.Union([Type.String(), Type.Null()], { description: 'SHA-256 (lowercase hex) of the certificate the refused connections presented; null for a token or none' }),
  reason: Type.String({ description: 'The last refusal\'s code before the ban (e.g. mqtt.certificateRevoked, mqtt.connectRateLimited)' }),
  refusals: Type.Integer({ description: 'Refusals within the window that earned the ban' }),
  bannedAt: Type.String(),
  expiresAt: Type.String(),
});
type BanResource = Static<typeof BanResource>;

const toBanResource = (ban: MqttBanView): BanResource => ({
  id: ban.id, kind: 'clientId', clientId: ban.clientId ?? '', certificateFingerprint: ban.certificateFingerprint ?? null, reason: ban.reason,
  refusals: ban.refusals, bannedAt: ban.bannedAt.toISOString(), expiresAt: ban.expiresAt.toISOString(),
});

export const banRoutes: FastifyPluginAsyncTypebox<{ bans: MqttBans }> = async (app, { bans }) => {
  app.get('/bans', {
    config: { scope: 'mcmqtt.admin' },
    schema: { ...bansTag, summary: 'List the tenant\'s MQTT connect bans (soonest expiry first)', response: { 200: Type.Array(BanResource), ...errors(401, 403) } },
  }, async (request) => (await bans.list(request.principal.tenant)).map(toBanResource));

  app.delete('/bans/:id', {
    config: { scope: 'mcmqtt.admin' },
    schema: {
      ...bansTag, summary: 'Lift a ban at once, on every node', params: Type.Object({ id: Type.String() }), response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    await bans.lift(request.principal.tenant, request.params.id, { type: 'token', id: request.principal.subject ?? '' }, request.id);
    return reply.code(204).send(null);
  });
};
