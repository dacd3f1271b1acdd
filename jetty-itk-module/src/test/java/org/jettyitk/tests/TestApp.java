package org.jettyitk.tests;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeSet;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.jettyitk.internal.posix.Posix;

/**
 * <p>The tenant app of the tests: an ordinary ee10 servlet context, deployed in a worker as a handler class.
 * Each path shows one thing the tests check from the outside.</p>
 */
public class TestApp extends ServletContextHandler
{
    public TestApp()
    {
        super("/");
        addServlet(TestServlet.class, "/*");
    }

    /** The byte at offset i of a generated body: not a repeating short pattern, so that offsets matter. */
    public static byte byteAt(long i)
    {
        return (byte)((i * 31 + (i >>> 8)) % 251);
    }

    /**
     * @return the first length bytes that {@code /bytes} generates
     */
    public static byte[] generated(int length)
    {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = byteAt(i);
        }
        return bytes;
    }

    public static String sha256(byte[] bytes)
    {
        try
        {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        }
        catch (NoSuchAlgorithmException x)
        {
            throw new IllegalStateException(x);
        }
    }

    public static class TestServlet extends HttpServlet
    {
        /** Indexes in {@link #statFields}: the nice value is field 19 of proc(5), the scheduling policy 41. */
        private static final int NICE_FIELD = 19 - 3;
        private static final int POLICY_FIELD = 41 - 3;

        @Override
        protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            String path = request.getPathInfo() == null ? "/" : request.getPathInfo();
            // /info/anything reports too, so that encoded paths can be checked.
            String route = path.startsWith("/info/") ? "/info" : path;
            switch (route)
            {
                case "/whoami" -> whoami(response);
                case "/info" -> info(request, response);
                case "/headers" -> headers(response);
                case "/names" -> names(request, response);
                case "/pid" -> text(response, "pid=" + ProcessHandle.current().pid() + "\n");
                case "/echo" -> echo(request, response);
                case "/bytes" -> bytes(request, response);
                case "/status" -> status(request, response);
                case "/error" -> throw new IllegalStateException("tenant failure");
                case "/trailers" -> trailers(response);
                case "/print" -> print(response);
                case "/create" -> create(response);
                case "/read" -> read(request, response);
                case "/setuid" -> setuid(response);
                case "/sleep" -> sleep(request, response);
                case "/env" -> env(response);
                case "/limits" -> limits(response);
                case "/log" -> log(request, response);
                case "/stall" -> stall(request, response);
                case "/allocate" -> allocate();
                case "/fork" -> fork(request, response);
                case "/spin" -> spin(request, response);
                case "/flood" -> flood(request, response);
                case "/protocol" -> protocol(response);
                default -> text(response, "path " + path + "\n");
            }
        }

        private static void text(HttpServletResponse response, String text) throws IOException
        {
            response.setContentType("text/plain;charset=utf-8");
            response.getWriter().print(text);
        }

        private static void whoami(HttpServletResponse response) throws IOException
        {
            StringBuilder out = new StringBuilder();
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            {
                if (line.startsWith("Uid:") || line.startsWith("Gid:") || line.startsWith("Groups:") || line.startsWith("Cap"))
                    out.append(line).append('\n');
            }
            text(response, out.toString());
        }

        private static void info(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            // Also in a header, for the methods whose response has no body (HEAD).
            response.setHeader("X-Method", request.getMethod());
            StringBuilder out = new StringBuilder();
            out.append("method=").append(request.getMethod()).append('\n');
            out.append("requestURI=").append(request.getRequestURI()).append('\n');
            out.append("pathInfo=").append(request.getPathInfo()).append('\n');
            out.append("queryString=").append(request.getQueryString()).append('\n');
            out.append("remoteAddr=").append(request.getRemoteAddr()).append('\n');
            out.append("remotePort=").append(request.getRemotePort()).append('\n');
            out.append("localPort=").append(request.getLocalPort()).append('\n');
            out.append("serverName=").append(request.getServerName()).append('\n');
            out.append("serverPort=").append(request.getServerPort()).append('\n');
            out.append("scheme=").append(request.getScheme()).append('\n');
            out.append("secure=").append(request.isSecure()).append('\n');
            out.append("protocol=").append(request.getProtocol()).append('\n');
            for (String name : new TreeSet<>(request.getParameterMap().keySet()))
            {
                out.append("parameter ").append(name).append('=')
                    .append(String.join("|", request.getParameterValues(name))).append('\n');
            }
            for (String name : Collections.list(request.getHeaderNames()))
            {
                out.append("header ").append(name.toLowerCase()).append('=')
                    .append(String.join("|", Collections.list(request.getHeaders(name)))).append('\n');
            }
            text(response, out.toString());
        }

        private static void headers(HttpServletResponse response) throws IOException
        {
            response.addHeader("X-Multi", "one");
            response.addHeader("X-Multi", "two");
            response.addHeader("Set-Cookie", "a=1");
            response.addHeader("Set-Cookie", "b=2");
            text(response, "headers\n");
        }

        /**
         * The request's header names as the servlet API gives them, in order and with their case, and its Host
         * header; the response has header names of mixed case.
         */
        private static void names(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            StringBuilder out = new StringBuilder();
            for (String name : Collections.list(request.getHeaderNames()))
            {
                out.append("name ").append(name).append('=').append(String.join("|", Collections.list(request.getHeaders(name)))).append('\n');
            }
            out.append("Host=").append(request.getHeader("Host")).append('\n');
            response.setHeader("X-Tenant-Header", "upper");
            response.setHeader("x-tenant-lower", "lower");
            response.setHeader("X-TENANT-SHOUT", "shout");
            text(response, out.toString());
        }

        private static void status(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            response.setStatus(Integer.parseInt(request.getParameter("code")));
            String body = request.getParameter("body");
            if (body != null)
                text(response, body);
        }

        private static void echo(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            byte[] body = request.getInputStream().readAllBytes();
            response.setHeader("X-Sha256", sha256(body));
            response.setHeader("X-Length", Integer.toString(body.length));
            for (Map.Entry<String, String> trailer : request.getTrailerFields().entrySet())
            {
                response.setHeader("X-Request-Trailer-" + trailer.getKey(), trailer.getValue());
            }
            response.setContentType("application/octet-stream");
            response.getOutputStream().write(body);
        }

        private static void bytes(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            long n = Long.parseLong(request.getParameter("n"));
            if (request.getParameter("length") != null)
                response.setContentLengthLong(n);
            response.setContentType("application/octet-stream");
            OutputStream out = response.getOutputStream();
            byte[] chunk = new byte[8192];
            for (long i = 0; i < n; )
            {
                int length = (int)Math.min(chunk.length, n - i);
                for (int j = 0; j < length; j++)
                {
                    chunk[j] = byteAt(i + j);
                }
                out.write(chunk, 0, length);
                i += length;
                if (request.getParameter("flush") != null)
                    out.flush();
            }
        }

        private static void trailers(HttpServletResponse response) throws IOException
        {
            response.setTrailerFields(() -> Map.of("x-checksum", "c0ffee"));
            response.setContentType("text/plain");
            response.getOutputStream().write("with trailers\n".getBytes());
            response.flushBuffer();
        }

        private static void print(HttpServletResponse response) throws IOException
        {
            // Bytes that would break the protocol if they reached the pipe: an HTTP/2 preface and frame headers.
            for (int i = 0; i < 2000; i++)
            {
                System.out.println("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n stdout line " + i);
                System.err.println("\u0000\u0000\u0004\u0001\u0000\u0000\u0000\u0000 stderr line " + i);
            }
            System.out.flush();
            new java.io.FileOutputStream(java.io.FileDescriptor.out).write("raw write to fd 1\n".getBytes());
            text(response, "printed\n");
        }

        private static void create(HttpServletResponse response) throws IOException
        {
            Path file = Files.createTempFile("created-", ".txt");
            text(response, "path=" + file + "\nuid=" + Files.getAttribute(file, "unix:uid") + "\n");
        }

        private static void read(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            Path path = Path.of(request.getParameter("path"));
            try (InputStream in = Files.newInputStream(path))
            {
                text(response, "read=" + new String(in.readAllBytes()).strip() + "\n");
            }
            catch (IOException x)
            {
                text(response, "denied=" + x.getClass().getSimpleName() + "\n");
            }
        }

        private static void setuid(HttpServletResponse response) throws IOException
        {
            String result;
            try
            {
                Posix.get().setresuid(0, 0, 0);
                result = "setuid=succeeded";
            }
            catch (IOException x)
            {
                result = "setuid=failed " + x.getMessage();
            }
            text(response, result + "\nuid=" + Posix.get().getuid() + "\n");
        }

        private static void sleep(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            try
            {
                Thread.sleep(Long.parseLong(request.getParameter("ms")));
            }
            catch (InterruptedException x)
            {
                Thread.currentThread().interrupt();
            }
            text(response, "slept\n");
        }

        /**
         * The worker's environment ({@code env NAME=value}), home, temporary directory and working directory.
         */
        private static void env(HttpServletResponse response) throws IOException
        {
            StringBuilder out = new StringBuilder();
            for (Map.Entry<String, String> variable : new java.util.TreeMap<>(System.getenv()).entrySet())
            {
                out.append("env ").append(variable.getKey()).append('=').append(variable.getValue()).append('\n');
            }
            out.append("property user.home=").append(System.getProperty("user.home")).append('\n');
            out.append("property java.io.tmpdir=").append(System.getProperty("java.io.tmpdir")).append('\n');
            out.append("cwd=").append(Path.of("").toAbsolutePath()).append('\n');
            text(response, out.toString());
        }

        /**
         * The nice value of the process and the nice values and scheduling policies of its threads (Linux keeps
         * both per thread), its resource limits ({@code limit Max open files=soft hard}), its heap limit and its
         * JVM options.
         */
        private static void limits(HttpServletResponse response) throws IOException
        {
            StringBuilder out = new StringBuilder();
            out.append("nice=").append(statFields(Path.of("/proc/self/stat"))[NICE_FIELD]).append('\n');
            TreeSet<Integer> threadNices = new TreeSet<>();
            TreeSet<Integer> threadPolicies = new TreeSet<>();
            try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
            {
                for (Path task : tasks.toList())
                {
                    try
                    {
                        String[] fields = statFields(task.resolve("stat"));
                        threadNices.add(Integer.parseInt(fields[NICE_FIELD]));
                        threadPolicies.add(Integer.parseInt(fields[POLICY_FIELD]));
                    }
                    catch (IOException x)
                    {
                        // The thread ended meanwhile.
                    }
                }
            }
            out.append("threadNices=").append(threadNices).append('\n');
            out.append("threadPolicies=").append(threadPolicies).append('\n');
            for (String line : Files.readAllLines(Path.of("/proc/self/limits")))
            {
                // "Max open files            512                  512                  files"
                if (line.startsWith("Max "))
                {
                    String[] values = line.substring(26).trim().split("\\s+");
                    out.append("limit ").append(line.substring(0, 26).trim()).append('=').append(values[0]).append(' ').append(values[1]).append('\n');
                }
            }
            out.append("maxMemory=").append(Runtime.getRuntime().maxMemory()).append('\n');
            out.append("jvmOptions=").append(String.join(" ", java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())).append('\n');
            text(response, out.toString());
        }

        /**
         * @return the fields of a {@code stat} file that follow the command name, which may hold spaces: the
         * state, field 3 of proc(5), is the first
         */
        private static String[] statFields(Path stat) throws IOException
        {
            String line = Files.readString(stat);
            return line.substring(line.lastIndexOf(')') + 2).split(" ");
        }

        /**
         * Prints {@code lines} lines {@code text i} to stderr: what a tenant logs.
         */
        private static void log(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            int lines = Integer.parseInt(request.getParameter("lines"));
            String text = request.getParameter("text");
            for (int i = 0; i < lines; i++)
            {
                System.err.println(text + " " + i);
            }
            text(response, "logged=" + lines + "\n");
        }

        /**
         * Commits a response, then sleeps {@code ms} before completing it.
         */
        private static void stall(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            text(response, "partial\n");
            response.flushBuffer();
            sleep(request, response);
        }

        /**
         * @return the worker's protocol output among this process's descriptors: the pipe that is neither its stdin
         * nor its stderr (fd 1 points at stderr)
         */
        private static int protocolFd() throws IOException
        {
            Path fds = Path.of("/proc/self/fd");
            String stdin = Files.readSymbolicLink(fds.resolve("0")).toString();
            String stderr = Files.readSymbolicLink(fds.resolve("2")).toString();
            try (java.util.stream.Stream<Path> entries = Files.list(fds))
            {
                for (Path fd : entries.toList())
                {
                    String target;
                    try
                    {
                        target = Files.readSymbolicLink(fd).toString();
                    }
                    catch (IOException x)
                    {
                        // The descriptor of the listing itself, closed meanwhile.
                        continue;
                    }
                    if (target.startsWith("pipe:") && !target.equals(stdin) && !target.equals(stderr))
                        return Integer.parseInt(fd.getFileName().toString());
                }
            }
            throw new IOException("no protocol pipe among " + fds);
        }

        /**
         * Reports the protocol descriptor, whether the tenant can reopen it through {@code /proc/self/fd}, and
         * whether it can turn its number into a {@link java.io.FileDescriptor} by reflection.
         */
        private static void protocol(HttpServletResponse response) throws IOException
        {
            int fd = protocolFd();
            String reopen;
            try (OutputStream ignored = Files.newOutputStream(Path.of("/proc/self/fd/" + fd), java.nio.file.StandardOpenOption.WRITE))
            {
                reopen = "opened";
            }
            catch (java.nio.file.AccessDeniedException x)
            {
                reopen = "denied";
            }
            // What --add-opens java.base/java.io would allow: a FileDescriptor made from the number.
            String reflect;
            try
            {
                java.lang.reflect.Field number = java.io.FileDescriptor.class.getDeclaredField("fd");
                number.setAccessible(true);
                reflect = "allowed";
            }
            catch (RuntimeException | NoSuchFieldException x)
            {
                reflect = "denied";
            }
            text(response, "fd=" + fd + "\nreopen=" + reopen + "\nreflect=" + reflect + "\n");
        }

        /**
         * <p>Attacks the front through the worker's own protocol pipe, as any tenant code can: finds the pipe among
         * its descriptors, suspends the worker's pipe reader so that the front's answers pile up, and writes
         * {@code n} SETTINGS frames every {@code ms} milliseconds through jnr-posix (on the worker's class path)
         * until the write fails (the front killed the worker). {@code n} times 9 bytes under {@code PIPE_BUF} (4096)
         * keeps each write whole.</p>
         */
        @SuppressWarnings("removal")
        private static void flood(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            int frames = Integer.parseInt(request.getParameter("n"));
            long pauseMillis = Long.parseLong(request.getParameter("ms"));
            int fd = protocolFd();
            for (Thread thread : Thread.getAllStackTraces().keySet())
            {
                if (thread.getName().startsWith("itk-pipe-reader-"))
                    thread.suspend();
            }
            // A SETTINGS frame: length 0, type 4, flags 0, stream 0.
            byte[] burst = new byte[frames * 9];
            for (int i = 0; i < frames; i++)
            {
                burst[i * 9 + 3] = 4;
            }
            jnr.posix.POSIX posix = jnr.posix.POSIXFactory.getNativePOSIX();
            try
            {
                while (posix.write(fd, burst, burst.length) > 0)
                {
                    Thread.sleep(pauseMillis);
                }
            }
            catch (InterruptedException x)
            {
                Thread.currentThread().interrupt();
            }
            text(response, "write failed: errno " + posix.errno() + "\n");
        }

        /**
         * Allocates without end: the worker's heap fills up and its JVM exits (-XX:+ExitOnOutOfMemoryError).
         */
        private static void allocate()
        {
            java.util.List<byte[]> blocks = new java.util.ArrayList<>();
            while (true)
            {
                blocks.add(new byte[1024 * 1024]);
            }
        }

        /**
         * Starts up to {@code n} {@code sleep 60} processes until the process limit stops it, reports how many
         * started and why it stopped, then kills them.
         */
        private static void fork(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            int n = Integer.parseInt(request.getParameter("n"));
            java.util.List<Process> children = new java.util.ArrayList<>();
            String failure = "none";
            try
            {
                while (children.size() < n)
                {
                    children.add(new ProcessBuilder("sleep", "60").redirectErrorStream(true).start());
                }
            }
            catch (Throwable x)
            {
                failure = x.toString();
            }
            finally
            {
                for (Process child : children)
                {
                    child.destroyForcibly();
                }
            }
            text(response, "started=" + children.size() + "\nfailure=" + failure + "\n");
        }

        private static volatile long spins;

        /**
         * Busy-loops on {@code threads} threads, the request's included, for {@code ms} (a safety net: the
         * tests pass more than they last and kill the worker).
         */
        private static void spin(HttpServletRequest request, HttpServletResponse response) throws IOException
        {
            int threads = Integer.parseInt(request.getParameter("threads"));
            long until = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(Long.parseLong(request.getParameter("ms")));
            for (int i = 1; i < threads; i++)
            {
                Thread thread = new Thread(() -> spinUntil(until), "spin-" + i);
                thread.setDaemon(true);
                thread.start();
            }
            spinUntil(until);
            text(response, "spun\n");
        }

        private static void spinUntil(long until)
        {
            long count = 0;
            while (System.nanoTime() - until < 0)
            {
                count++;
            }
            spins += count;
        }
    }
}
