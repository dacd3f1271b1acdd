package org.jettyitk.tests;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.posix.Posix;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>A front for tests: a {@link Server} on a free loopback port (HTTP/1.1 and h2c), an {@link ItkHandler},
 * tenant directories chowned to numeric ids, and HTTP/1.1 and HTTP/2 clients. {@link #close()} stops all and
 * checks that no worker process is left.</p>
 */
public class ItkTestServer implements AutoCloseable
{
    /** Numeric ids no passwd file knows: the tests need no useradd. */
    public static final int ALICE = 41001;
    public static final int BOB = 41002;
    public static final int CAROL = 41003;
    /** Longest wait for one response: a hang guard, not a timing assertion. */
    public static final int TIMEOUT_SECONDS = 60;

    public final Path root;
    public final Server server;
    public final HttpConfiguration config = new HttpConfiguration();
    public final ServerConnector connector;
    public final ItkHandler itk = new ItkHandler();
    public final HttpClient http1 = new HttpClient();
    public final HttpClient http2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));
    private final List<VirtualHost> vhosts = new ArrayList<>();

    public ItkTestServer() throws IOException
    {
        root = Files.createTempDirectory("itk-test-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("itk-test-front");
        server = new Server(threads);
        connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        connector.setHost("127.0.0.1");
        server.addConnector(connector);
        server.setHandler(itk);
        // Each start would train an archive in the background (seconds of CPU): ClassArchiveTest covers it.
        itk.setWorkerClassArchive(false);
    }

    public static boolean isRoot()
    {
        try
        {
            return Posix.get().geteuid() == 0;
        }
        catch (IOException x)
        {
            return false;
        }
    }

    /**
     * @return a directory owned by the id, mode 0700, under this server's root: as the README's recipe, only the
     * tenant (its worker) reads its app
     */
    public Path tenantDirectory(String name, int id) throws IOException
    {
        Path dir = Files.createDirectories(root.resolve(name));
        chown(dir, id);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        return dir;
    }

    public static void chown(Path path, int id) throws IOException
    {
        Files.setAttribute(path, "unix:uid", id);
        Files.setAttribute(path, "unix:gid", id);
    }

    /**
     * Adds a vhost running the {@link TestApp} handler as the given id, with the given supplementary groups.
     */
    public VirtualHost addTestApp(String name, int id, String... groups) throws IOException
    {
        Path dir = tenantDirectory(name, id);
        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(name + ".test");
        vhost.setUser(Integer.toString(id));
        vhost.setGroup(Integer.toString(id));
        vhost.setGroups(groups);
        vhost.setApp(dir.toString());
        vhost.setHandlerClass(TestApp.class.getName());
        return add(vhost);
    }

    public VirtualHost add(VirtualHost vhost)
    {
        vhosts.add(vhost);
        itk.addVirtualHost(vhost);
        return vhost;
    }

    public ItkTestServer start() throws Exception
    {
        // Every host name is this front: no name resolution, and the URI's host is the Host and :authority.
        for (HttpClient client : List.of(http1, http2))
        {
            client.setSocketAddressResolver((host, port, context, promise) ->
                promise.succeeded(List.of(new InetSocketAddress("127.0.0.1", port))));
        }
        server.start();
        http1.start();
        http2.start();
        return this;
    }

    public int port()
    {
        return connector.getLocalPort();
    }

    /**
     * @return a request to this front for the given virtual host (every name resolves to this front)
     */
    public Request request(HttpClient client, String host, String pathQuery)
    {
        return client.newRequest("http://" + host + ":" + port() + pathQuery)
            .timeout(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    public ContentResponse get(HttpClient client, String host, String pathQuery) throws Exception
    {
        return request(client, host, pathQuery).send();
    }

    /**
     * Sends a request whose response may be larger than {@link Request#send()}'s 2 MiB limit.
     */
    public static ContentResponse send(Request request, int maxLength) throws Exception
    {
        return new CompletableResponseListener(request, maxLength).send().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    /**
     * @return the lines {@code key=value} of a {@code /info} or {@code /whoami} body as a map; the key of a
     * header line is {@code "header name"}, of a parameter line {@code "parameter name"}
     */
    public static Map<String, String> lines(String body)
    {
        Map<String, String> lines = new LinkedHashMap<>();
        for (String line : body.split("\n"))
        {
            int equals = line.indexOf('=');
            int colon = line.indexOf(':');
            if (equals > 0)
                lines.put(line.substring(0, equals), line.substring(equals + 1));
            else if (colon > 0)
                lines.put(line.substring(0, colon), line.substring(colon + 1).strip());
        }
        return lines;
    }

    /**
     * @return a plain socket to this front, with a read timeout as a hang guard
     */
    public Socket connect() throws IOException
    {
        Socket socket = new Socket("127.0.0.1", port());
        socket.setSoTimeout(TIMEOUT_SECONDS * 1000);
        return socket;
    }

    /**
     * Sends raw HTTP/1.1 bytes on a new connection and reads one final response (interim ones are skipped).
     */
    public RawResponse raw(String request) throws IOException
    {
        try (Socket socket = connect())
        {
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            boolean head = request.startsWith("HEAD ");
            while (true)
            {
                RawResponse response = RawResponse.read(in, head);
                if (response.status() >= 200)
                    return response;
            }
        }
    }

    /**
     * An HTTP/1 response as it came on the wire: status, header fields in order, the decoded body, the trailer
     * fields and the number of non-empty chunks when it was chunked.
     */
    public record RawResponse(int status, HttpFields headers, byte[] body, HttpFields trailers, int chunks)
    {
        public String content()
        {
            return new String(body, StandardCharsets.UTF_8);
        }

        /**
         * Reads one response, interim (1xx) ones included.
         *
         * @param head whether the request was a HEAD, whose response has no body whatever its headers say
         */
        public static RawResponse read(InputStream in, boolean head) throws IOException
        {
            String statusLine = readLine(in);
            String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/1."))
                throw new IOException("bad status line: " + statusLine);
            int status = Integer.parseInt(parts[1]);
            HttpFields headers = readFields(in);
            if (head || status < 200 || status == 204 || status == 304)
                return new RawResponse(status, headers, new byte[0], HttpFields.EMPTY, 0);
            if (headers.contains("Transfer-Encoding", "chunked"))
                return readChunked(in, status, headers);
            long length = headers.getLongField("Content-Length");
            byte[] body = length >= 0 ? in.readNBytes((int)length) : in.readAllBytes();
            if (body.length < length)
                throw new EOFException("body " + body.length + " < Content-Length " + length);
            return new RawResponse(status, headers, body, HttpFields.EMPTY, 0);
        }

        private static RawResponse readChunked(InputStream in, int status, HttpFields headers) throws IOException
        {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            int chunks = 0;
            while (true)
            {
                String sizeLine = readLine(in);
                int semicolon = sizeLine.indexOf(';');
                int size = Integer.parseInt((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).strip(), 16);
                if (size == 0)
                    return new RawResponse(status, headers, body.toByteArray(), readFields(in), chunks);
                byte[] chunk = in.readNBytes(size);
                if (chunk.length < size)
                    throw new EOFException("chunk " + chunk.length + " < " + size);
                body.write(chunk);
                chunks++;
                if (!readLine(in).isEmpty())
                    throw new IOException("no CRLF after chunk");
            }
        }

        private static HttpFields readFields(InputStream in) throws IOException
        {
            HttpFields.Mutable fields = HttpFields.build();
            for (String line = readLine(in); !line.isEmpty(); line = readLine(in))
            {
                int colon = line.indexOf(':');
                if (colon <= 0)
                    throw new IOException("bad field line: " + line);
                fields.add(line.substring(0, colon), line.substring(colon + 1).strip());
            }
            return fields.asImmutable();
        }

        private static String readLine(InputStream in) throws IOException
        {
            StringBuilder line = new StringBuilder();
            while (true)
            {
                int b = in.read();
                if (b < 0)
                    throw new EOFException("EOF after '" + line + "'");
                if (b == '\n')
                    break;
                line.append((char)b);
            }
            int length = line.length();
            if (length > 0 && line.charAt(length - 1) == '\r')
                line.setLength(length - 1);
            return line.toString();
        }
    }

    @Override
    public void close() throws Exception
    {
        List<ProcessHandle> workers = workers().toList();
        LifeCycle.stop(http1);
        LifeCycle.stop(http2);
        LifeCycle.stop(server);
        for (ProcessHandle worker : workers)
        {
            worker.onExit().get(30, TimeUnit.SECONDS);
        }
        await().atMost(30, TimeUnit.SECONDS).until(() -> workers().findAny().isEmpty());
        assertEquals(List.of(), workers().map(ProcessHandle::pid).toList(), "worker processes left");
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    /**
     * @return the live processes of this front: children whose command line or environment names a tenant
     * directory under {@link #root} (a worker's arguments, in its environment, carry its app), so that fronts of
     * one test class may run side by side
     */
    public Stream<ProcessHandle> workers()
    {
        byte[] tenants = (root.toString() + "/").getBytes(StandardCharsets.UTF_8);
        return ProcessHandle.current().descendants()
            .filter(ProcessHandle::isAlive)
            .filter(p -> fileContains(p, "cmdline", tenants) || fileContains(p, "environ", tenants));
    }

    private static boolean fileContains(ProcessHandle process, String file, byte[] text)
    {
        // Read /proc directly: ProcessHandle.Info drops the arguments of a command line longer than a page.
        byte[] commandLine;
        try
        {
            commandLine = Files.readAllBytes(Path.of("/proc", Long.toString(process.pid()), file));
        }
        catch (NoSuchFileException x)
        {
            return false;
        }
        catch (IOException x)
        {
            // Unreadable: count the process, a leak check must not miss one.
            return true;
        }
        for (int i = 0; i + text.length <= commandLine.length; i++)
        {
            if (Arrays.equals(commandLine, i, i + text.length, text, 0, text.length))
                return true;
        }
        return false;
    }
}
