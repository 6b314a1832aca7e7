#!/bin/sh
# Writes redis.conf and sentinel.conf for this pod into /conf (an emptyDir:
# sentinel rewrites its file). The master is whatever the sentinels already
# agree on; on a fresh start (no sentinel answers) it is redis-0.
set -eu
: "${POD_NAME:?}" "${REDIS_PASSWORD:?}"
SVC=redis-headless
ME="$POD_NAME.$SVC"
MASTER=""
for i in 0 1 2; do
  MASTER=$(redis-cli -h "redis-$i.$SVC" -p 26379 -a "$REDIS_PASSWORD" --no-auth-warning \
    sentinel get-master-addr-by-name mymaster 2>/dev/null | head -n 1 || true)
  [ -n "$MASTER" ] && break
done
[ -n "$MASTER" ] || MASTER="redis-0.$SVC"

cat > /conf/redis.conf <<CONF
port 6379
dir /data
appendonly yes
appendfsync everysec
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
replica-announce-ip $ME
protected-mode no
CONF
case "$MASTER" in
  "$ME"|"$ME".*) ;;
  *) echo "replicaof $MASTER 6379" >> /conf/redis.conf ;;
esac

cat > /conf/sentinel.conf <<CONF
port 26379
dir /tmp
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $ME
requirepass $REDIS_PASSWORD
sentinel sentinel-pass $REDIS_PASSWORD
sentinel monitor mymaster $MASTER 6379 2
sentinel auth-pass mymaster $REDIS_PASSWORD
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 60000
sentinel parallel-syncs mymaster 1
CONF
chmod 0600 /conf/redis.conf /conf/sentinel.conf
