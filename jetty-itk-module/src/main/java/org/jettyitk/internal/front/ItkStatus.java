package org.jettyitk.internal.front;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.jettyitk.ItkHandler;
import org.jettyitk.internal.posix.Identity;

/**
 * <p>The operator's status page, as JSON (php-fpm's {@code pm.status_path}): every vhost with its identity,
 * limits and counters, and every worker with its pid, state, uptime, requests served and in flight.</p>
 * <p>It names every tenant, so {@code ItkHandler} answers it only for a host no vhost serves and only to the
 * clients its {@link StatusAccess} admits (loopback by default), judged by the connection's address and, for a
 * local client, by the owner of its socket: never a tenant's process.</p>
 * <pre>
 * {"workers":{"used":2,"max":500},"vhosts":[{"name":"alice","user":"alice","uid":41001,"gid":41001,
 *   "groups":[41001],"inFlight":0,"maxRequests":1000,"maxWorkers":1,"webSockets":1,"maxWebSockets":256,"spawned":1,
 *   "crashes":0,"lastFailure":null,"rejected":0,"workers":[{"pid":1234,"state":"READY","uptimeSeconds":42,"requests":17,
 *   "inFlight":0,"webSockets":1}]}]}
 * </pre>
 */
public final class ItkStatus
{
    private ItkStatus()
    {
    }

    public static void write(ItkHandler handler, Response response, Callback callback)
    {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json;charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.write(true, StandardCharsets.UTF_8.encode(toJson(handler)), callback);
    }

    public static String toJson(ItkHandler handler)
    {
        WorkerBudget budget = handler.getWorkerBudget();
        List<WorkerPool> pools = handler.getWorkerPools().stream().sorted(Comparator.comparing(WorkerPool::getName)).toList();
        StringBuilder json = new StringBuilder();
        json.append("{\"workers\":{\"used\":").append(budget == null ? 0 : budget.getUsed())
            .append(",\"max\":").append(budget == null ? 0 : budget.getMax()).append("},\"vhosts\":[");
        json.append(pools.stream().map(ItkStatus::toJson).collect(Collectors.joining(",")));
        return json.append("]}").toString();
    }

    private static String toJson(WorkerPool pool)
    {
        Identity identity = pool.getIdentity();
        String workers = pool.getWorkers().stream().map(worker -> "{\"pid\":" + worker.getPid() +
            ",\"state\":\"" + worker.getState() + "\",\"uptimeSeconds\":" + worker.getUptime().toSeconds() +
            ",\"requests\":" + worker.getRequests() + ",\"inFlight\":" + worker.getInFlight() + ",\"webSockets\":" + worker.getWebSockets() + "}").collect(Collectors.joining(","));
        return "{\"name\":" + quote(pool.getName()) + ",\"user\":" + quote(identity.user()) + ",\"uid\":" + identity.uid() +
            ",\"gid\":" + identity.gid() + ",\"groups\":" + Arrays.toString(identity.groups()).replace(" ", "") +
            ",\"inFlight\":" + pool.getInFlight() + ",\"maxRequests\":" + pool.getMaxRequests() + ",\"maxWorkers\":" + pool.getMaxWorkers() +
            ",\"webSockets\":" + pool.getWebSockets() + ",\"maxWebSockets\":" + pool.getMaxWebSockets() +
            ",\"spawned\":" + pool.getSpawned() + ",\"crashes\":" + pool.getCrashes() + ",\"lastFailure\":" + quoteOrNull(pool.getLastFailure()) + ",\"rejected\":" + pool.getRejected() +
            ",\"workers\":[" + workers + "]}";
    }

    private static String quoteOrNull(String text)
    {
        return text == null ? "null" : quote(text);
    }

    static String quote(String text)
    {
        StringBuilder quoted = new StringBuilder("\"");
        for (int i = 0; i < text.length(); i++)
        {
            char c = text.charAt(i);
            if (c == '"' || c == '\\')
                quoted.append('\\').append(c);
            else if (c < 0x20)
                quoted.append("\\u%04x".formatted((int)c));
            else
                quoted.append(c);
        }
        return quoted.append('"').toString();
    }
}
