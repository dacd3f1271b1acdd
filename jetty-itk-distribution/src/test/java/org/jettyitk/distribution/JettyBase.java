package org.jettyitk.distribution;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A {@code ${jetty.base}} of the real jetty-home distribution with the real jetty-itk overlay unpacked into it,
 * and the Jetty server it runs as a separate process, as a user would: {@code tar xzf}, {@code java -jar
 * $JETTY_HOME/start.jar --add-modules=...}, {@code java -jar $JETTY_HOME/start.jar}.</p>
 * <p>The files come from the build: {@code itk.overlay.archive} (the overlay {@code tar.gz}) and
 * {@code itk.it.directory} (where maven-dependency-plugin copied {@code jetty-home.tar.gz}, {@code whoami.war} and
 * the third-party webjar).</p>
 */
public class JettyBase implements AutoCloseable
{
    /** Longest wait for Jetty to start, stop or change: a hang guard, not a timing assertion. */
    public static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final String STARTED = "Started oejs.Server@";

    public final Path dir;
    public final Path log;
    private Process jetty;

    private JettyBase(Path dir)
    {
        this.dir = dir;
        this.log = dir.resolve("jetty.log");
    }

    public static Path itDirectory()
    {
        return Path.of(System.getProperty("itk.it.directory", "target/it")).toAbsolutePath();
    }

    /**
     * @return the jetty-home distribution, unpacked once under {@link #itDirectory()}
     */
    public static synchronized Path home() throws Exception
    {
        String version = System.getProperty("itk.jetty-home.version", "12.1.5");
        Path home = itDirectory().resolve("jetty-home-" + version);
        if (!Files.isRegularFile(home.resolve("start.jar")))
        {
            deleteTree(home);
            run(itDirectory(), List.of("tar", "xzf", itDirectory().resolve("jetty-home.tar.gz").toString()), null);
        }
        return home;
    }

    /**
     * @return a new, empty base (mode 0755, as tenants traverse it to reach their apps) with the overlay unpacked
     */
    public static JettyBase create(String name) throws Exception
    {
        Path dir = itDirectory().resolve(name);
        deleteTree(dir);
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path overlay = Path.of(System.getProperty("itk.overlay.archive"));
        assertTrue(Files.isRegularFile(overlay), "no overlay " + overlay + ": run mvn verify (after package)");
        run(dir, List.of("tar", "xzf", overlay.toString()), null);
        return new JettyBase(dir);
    }

    /**
     * Runs {@code java -jar $JETTY_HOME/start.jar ARGS} in this base and returns its output.
     *
     * @param input what to type on its standard input (an answer to the license question), or null
     */
    public String startJar(String input, String... args) throws Exception
    {
        List<String> command = new ArrayList<>(List.of(java(), "-jar", home().resolve("start.jar").toString()));
        command.addAll(List.of(args));
        return run(dir, command, input);
    }

    private static String java()
    {
        return ProcessHandle.current().info().command().orElse("java");
    }

    private static String run(Path dir, List<String> command, String input) throws Exception
    {
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        try (OutputStream stdin = process.getOutputStream())
        {
            if (input != null)
                stdin.write(input.getBytes(StandardCharsets.UTF_8));
        }
        String output;
        try (InputStream stdout = process.getInputStream())
        {
            output = new String(stdout.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(process.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS), "still running: " + command);
        assertEquals(0, process.exitValue(), command + " failed:\n" + output);
        return output;
    }

    /**
     * Starts Jetty in this base as a separate process, its output in {@link #log}, and waits until it started.
     *
     * @param properties {@code name=value} arguments, such as {@code jetty.http.port=8080}
     */
    public void start(String... properties) throws Exception
    {
        List<String> command = new ArrayList<>(List.of(java(), "-jar", home().resolve("start.jar").toString()));
        command.addAll(List.of(properties));
        jetty = new ProcessBuilder(command).directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .start();
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(100)).until(() -> logText().contains(STARTED) || !jetty.isAlive());
        assertTrue(jetty.isAlive(), "Jetty exited with " + (jetty.isAlive() ? "" : jetty.exitValue()) + ":\n" + logText());
    }

    public ProcessHandle process()
    {
        return jetty.toHandle();
    }

    /**
     * Stops Jetty as an init system would (SIGTERM) and waits for it to exit.
     *
     * @return the exit status
     */
    public int stop() throws Exception
    {
        jetty.destroy();
        assertTrue(jetty.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS), "Jetty did not stop on SIGTERM");
        return jetty.exitValue();
    }

    public String logText()
    {
        try
        {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        }
        catch (IOException x)
        {
            throw new UncheckedIOException(x);
        }
    }

    /**
     * Waits until Jetty's log contains the text.
     */
    public void awaitLog(String text)
    {
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(100))
            .failFast("Jetty exited", () -> !jetty.isAlive())
            .until(() -> logText().contains(text));
    }

    /**
     * Makes a tenant directory {@code tenants/NAME}, owned by the id with mode 0700, holding a copy of the app
     * (mode 0600) and a {@code secret.txt} only the tenant may read.
     *
     * @return the copy of the app
     */
    public Path tenant(String name, int id, Path app) throws IOException
    {
        Path tenants = Files.createDirectories(dir.resolve("tenants"));
        Files.setPosixFilePermissions(tenants, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path home = Files.createDirectories(tenants.resolve(name));
        Path copy = home.resolve(app.getFileName());
        Files.copy(app, copy);
        Path secret = Files.writeString(home.resolve("secret.txt"), name + "'s secret\n");
        for (Path path : List.of(home, copy, secret))
        {
            Files.setAttribute(path, "unix:uid", id);
            Files.setAttribute(path, "unix:gid", id);
        }
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        return copy;
    }

    /**
     * @return the Jetty XML of a vhost answering the host as the numeric id, for the app
     */
    public static String vhostXml(String host, int id, Path app)
    {
        return """
            <?xml version="1.0"?>
            <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
            <Configure class="org.jettyitk.VirtualHost">
              <Call name="addHostName"><Arg>%s</Arg></Call>
              <Set name="user">%d</Set>
              <Set name="group">%d</Set>
              <Set name="app"><Property name="jetty.base"/>/%s</Set>
            </Configure>
            """.formatted(host, id, id, app.toString());
    }

    /**
     * Writes a vhost file into {@code itk/}, first under a hidden name then renamed, as an editor or a deployment
     * tool should, so that the scanner never reads half a file; mode 0600, as the README's recipe: its settings
     * are no other user's business.
     */
    public Path writeVhost(String fileName, String xml) throws IOException
    {
        return writeVhost(fileName, xml, 0, "rw-------");
    }

    /**
     * Writes a vhost file as {@link #writeVhost(String, String)}, with the group and mode given before the rename:
     * with {@code jetty.itk.frontUser}, the README's recipe is the front's group and mode 0640.
     */
    public Path writeVhost(String fileName, String xml, int group, String mode) throws IOException
    {
        Path itk = dir.resolve("itk");
        Path temporary = itk.resolve("." + fileName + ".tmp");
        Files.writeString(temporary, xml);
        Files.setAttribute(temporary, "unix:gid", group);
        Files.setPosixFilePermissions(temporary, PosixFilePermissions.fromString(mode));
        return Files.move(temporary, itk.resolve(fileName), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    public static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0))
        {
            return socket.getLocalPort();
        }
    }

    @Override
    public void close()
    {
        // A failed test must not leave Jetty or a worker running.
        if (jetty != null && jetty.isAlive())
        {
            List<ProcessHandle> descendants = jetty.descendants().toList();
            jetty.destroyForcibly();
            descendants.forEach(ProcessHandle::destroyForcibly);
        }
    }

    static void deleteTree(Path root) throws IOException
    {
        if (!Files.exists(root))
            return;
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
