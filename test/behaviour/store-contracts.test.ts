/**
 * Every store contract (test/contracts/) on every implementation: in memory, and in Redis with
 * a real redis-server (two clients on it standing for two front doors, and a server of its own
 * for each outage test). A new store adds its contract file there and a few lines here.
 */
import { createMemoryStore } from '../../src/limits/memory-store.js';
import { createRedisStore } from '../../src/limits/redis-store.js';
import { useRedisFixture, type Bind } from '../contracts/redis-fixture.js';
import { describeWindowStoreContract } from '../contracts/window-store.js';

const redis = useRedisFixture();

describeWindowStoreContract('the memory window store', () => createMemoryStore({ maxKeys: 1_000 }));
const redisWindows: Bind<[], ReturnType<typeof createRedisStore>> = (client, prefix) => createRedisStore(client, prefix);
describeWindowStoreContract('the Redis window store', redis.fresh(redisWindows), redis.options(redisWindows));
