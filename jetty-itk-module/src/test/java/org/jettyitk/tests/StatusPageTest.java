package org.jettyitk.tests;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.http.HttpHeader;
import org.jettyitk.VirtualHost;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.CAROL;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The operator sees the pools: the JSON status page, answered only for a host no vhost serves, and
 * {@code Server.dump()}, both listing every vhost with its identity and workers. A tenant's process never reads
 * the page, even over loopback.</p>
 */
public class StatusPageTest
{
    private static final String STATUS_PATH = "/itk-status";
    /** A local user that no vhost runs as. */
    private static final int OTHER_LOCAL_USER = 41009;

    private static ItkTestServer front;
    private static long alicePid;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002");
        front = new ItkTestServer();
        front.addTestApp("alice", ALICE);
        VirtualHost bob = front.addTestApp("bob", BOB);
        bob.setMaxRequests(7);
        front.itk.setStatusPath(STATUS_PATH);
        front.start();
        // Alice has a worker that served a request; bob has none yet.
        ContentResponse response = front.get(front.http1, "alice.test", "/pid");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        alicePid = Long.parseLong(lines(response.getContentAsString()).get("pid"));
    }

    @AfterAll
    public static void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> vhost(Map<String, Object> status, String name)
    {
        return ((List<Map<String, Object>>)status.get("vhosts")).stream()
            .filter(v -> name.equals(v.get("name")))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no vhost " + name + " in " + status));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> status() throws Exception
    {
        ContentResponse response = front.get(front.http1, "127.0.0.1", STATUS_PATH);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertTrue(response.getHeaders().get(HttpHeader.CONTENT_TYPE).startsWith("application/json"), response.getHeaders()::toString);
        return (Map<String, Object>)Json.parse(response.getContentAsString());
    }

    @Test
    @SuppressWarnings("unchecked")
    public void testStatusPageListsVirtualHostsIdentitiesAndWorkers() throws Exception
    {
        Map<String, Object> status = status();

        Map<String, Object> alice = vhost(status, "alice");
        assertEquals((long)ALICE, alice.get("uid"));
        assertEquals((long)ALICE, alice.get("gid"));
        assertEquals(List.of((long)ALICE), alice.get("groups"));
        List<Map<String, Object>> workers = (List<Map<String, Object>>)alice.get("workers");
        assertEquals(1, workers.size(), workers::toString);
        assertEquals(alicePid, workers.get(0).get("pid"));
        assertEquals("READY", workers.get(0).get("state"));
        assertTrue((Long)workers.get(0).get("requests") >= 1, workers::toString);
        assertEquals(1L, alice.get("spawned"));

        Map<String, Object> bob = vhost(status, "bob");
        assertEquals((long)BOB, bob.get("uid"));
        assertEquals(7L, bob.get("maxRequests"));
        assertEquals(List.of(), bob.get("workers"));
        assertEquals(0L, bob.get("spawned"));
    }

    @Test
    public void testStatusPathOnVirtualHostGoesToTenant() throws Exception
    {
        ContentResponse response = front.get(front.http1, "alice.test", STATUS_PATH);

        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertEquals("path " + STATUS_PATH + "\n", response.getContentAsString());
    }

    @Test
    public void testOtherPathOnUnservedHostIsNotFound() throws Exception
    {
        assertEquals(404, front.get(front.http1, "127.0.0.1", STATUS_PATH + "/more").getStatus());
    }

    /**
     * The attack: tenant code connects to the front over loopback, which statusAllow admits, and asks for the page.
     * The kernel says the socket is alice's: no page. The same request from a local uid no vhost uses gets it.
     */
    @Test
    public void testTenantProcessOnLoopbackGetsNoStatusPage() throws Exception
    {
        String alice = rawStatusAs(ALICE);
        assertTrue(alice.startsWith("HTTP/1.1 404 "), alice);
        String bob = rawStatusAs(BOB);
        assertTrue(bob.startsWith("HTTP/1.1 404 "), bob);
        String other = rawStatusAs(OTHER_LOCAL_USER);
        assertTrue(other.startsWith("HTTP/1.1 200 ") && other.contains("\"name\":\"alice\""), other);
    }

    /**
     * A tenant's processes may outlive its vhost (a daemon it forked): its uid stays refused once the vhost is gone.
     */
    @Test
    public void testRemovedTenantsProcessGetsNoStatusPage() throws Exception
    {
        VirtualHost carol = front.addTestApp("carol", CAROL);
        assertTrue(front.itk.removeVirtualHost(carol));

        String response = rawStatusAs(CAROL);
        assertTrue(response.startsWith("HTTP/1.1 404 "), response);
    }

    /**
     * @return the raw response to a status request sent over loopback by a shell running as the uid
     */
    private static String rawStatusAs(int uid) throws Exception
    {
        String script = """
            exec 3<>/dev/tcp/127.0.0.1/%d
            printf 'GET %s HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' >&3
            cat <&3
            """.formatted(front.port(), STATUS_PATH);
        Process shell = new ProcessBuilder("/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--", "/bin/bash", "-c", script)
            .directory(new File("/"))
            .redirectErrorStream(true)
            .start();
        shell.getOutputStream().close();
        byte[] output = shell.getInputStream().readAllBytes();
        assertTrue(shell.waitFor(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS), "shell as " + uid + " did not end");
        String response = new String(output, StandardCharsets.ISO_8859_1);
        assertEquals(0, shell.exitValue(), response);
        return response;
    }

    @Test
    public void testServerDumpShowsVirtualHostsIdentitiesAndWorkers() throws Exception
    {
        String dump = front.server.dump();

        for (String name : List.of("alice", "bob"))
        {
            assertTrue(dump.contains("name=" + name + ",hosts=[" + name + ".test]"), () -> "vhost " + name + " missing:\n" + dump);
            assertTrue(dump.contains("vhost=" + name), () -> "pool of " + name + " missing:\n" + dump);
        }
        assertTrue(dump.contains("Identity[user=" + ALICE + ",uid=" + ALICE + ",gid=" + ALICE), () -> "alice's identity missing:\n" + dump);
        assertTrue(dump.contains("Identity[user=" + BOB + ",uid=" + BOB + ",gid=" + BOB), () -> "bob's identity missing:\n" + dump);
        assertTrue(dump.contains("pid=" + alicePid), () -> "alice's worker missing:\n" + dump);
    }

    @Test
    public void testServerDumpShowsEachWorkersThreadsUnderIt() throws Exception
    {
        String dump = front.server.dump();

        // Under alice's worker, with their states: the pipe's reader and writer, and the pump of its stderr.
        int worker = dump.indexOf("Worker@");
        assertTrue(worker >= 0 && dump.indexOf("pid=" + alicePid, worker) >= 0, () -> "alice's worker missing:\n" + dump);
        String name = "alice-" + alicePid;
        for (String thread : List.of("itk-pipe-reader-" + name, "itk-pipe-writer-" + name, "itk-worker-log-" + name))
        {
            assertTrue(Pattern.compile(Pattern.quote(thread) + " (RUNNABLE|WAITING|TIMED_WAITING|BLOCKED)").matcher(dump).find(),
                () -> thread + " missing:\n" + dump);
            assertTrue(dump.indexOf(thread) > worker, () -> thread + " not under the worker:\n" + dump);
        }
        // Each of them is a live thread of this JVM.
        Set<String> live = Thread.getAllStackTraces().keySet().stream().map(Thread::getName).collect(Collectors.toSet());
        assertTrue(live.containsAll(List.of("itk-pipe-reader-" + name, "itk-pipe-writer-" + name, "itk-worker-log-" + name)), () -> "live threads: " + live);
    }

    /**
     * Just enough JSON for the status page: objects, arrays, strings, integers, booleans and null; anything else,
     * or trailing bytes, is an error, so the page must be well-formed.
     */
    private static final class Json
    {
        private final String text;
        private int index;

        private Json(String text)
        {
            this.text = text;
        }

        static Object parse(String text)
        {
            Json json = new Json(text);
            Object value = json.value();
            json.skipSpace();
            if (json.index != text.length())
                throw json.error("trailing bytes");
            return value;
        }

        private Object value()
        {
            skipSpace();
            if (index >= text.length())
                throw error("end of text");
            char c = text.charAt(index);
            return switch (c)
            {
                case '{' -> object();
                case '[' -> array();
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> number();
            };
        }

        private Map<String, Object> object()
        {
            Map<String, Object> object = new LinkedHashMap<>();
            expect('{');
            skipSpace();
            if (peek('}'))
                return object;
            do
            {
                skipSpace();
                String key = string();
                skipSpace();
                expect(':');
                if (object.put(key, value()) != null)
                    throw error("duplicate key " + key);
                skipSpace();
            }
            while (peek(','));
            expect('}');
            return object;
        }

        private List<Object> array()
        {
            List<Object> array = new ArrayList<>();
            expect('[');
            skipSpace();
            if (peek(']'))
                return array;
            do
            {
                array.add(value());
                skipSpace();
            }
            while (peek(','));
            expect(']');
            return array;
        }

        private String string()
        {
            expect('"');
            StringBuilder string = new StringBuilder();
            while (true)
            {
                if (index >= text.length())
                    throw error("unterminated string");
                char c = text.charAt(index++);
                if (c == '"')
                    return string.toString();
                if (c < 0x20)
                    throw error("control character in string");
                if (c == '\\')
                {
                    char escaped = text.charAt(index++);
                    switch (escaped)
                    {
                        case '"', '\\', '/' -> string.append(escaped);
                        case 'n' -> string.append('\n');
                        case 't' -> string.append('\t');
                        case 'r' -> string.append('\r');
                        case 'b' -> string.append('\b');
                        case 'f' -> string.append('\f');
                        case 'u' ->
                        {
                            string.append((char)Integer.parseInt(text.substring(index, index + 4), 16));
                            index += 4;
                        }
                        default -> throw error("bad escape \\" + escaped);
                    }
                }
                else
                {
                    string.append(c);
                }
            }
        }

        private Long number()
        {
            int start = index;
            if (peek('-'))
                start = index - 1;
            while (index < text.length() && Character.isDigit(text.charAt(index)))
            {
                index++;
            }
            if (index == start || index == start + 1 && text.charAt(start) == '-')
                throw error("not a value");
            return Long.parseLong(text.substring(start, index));
        }

        private Object literal(String word, Object value)
        {
            if (!text.startsWith(word, index))
                throw error("not a value");
            index += word.length();
            return value;
        }

        private boolean peek(char c)
        {
            if (index < text.length() && text.charAt(index) == c)
            {
                index++;
                return true;
            }
            return false;
        }

        private void expect(char c)
        {
            if (!peek(c))
                throw error("expected '" + c + "'");
        }

        private void skipSpace()
        {
            while (index < text.length() && Character.isWhitespace(text.charAt(index)))
            {
                index++;
            }
        }

        private IllegalArgumentException error(String what)
        {
            return new IllegalArgumentException("JSON: " + what + " at " + index + " in " + text);
        }
    }
}
