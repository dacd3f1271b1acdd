package org.jettyitk.tests;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.jettyitk.internal.launch.ProcessWorkerLauncher;

/**
 * <p>A real PostgreSQL server for a test: a new cluster ({@code initdb}) in a temporary directory, started with
 * {@code pg_ctl} on a free loopback port, with a password user, and deleted when closed. As root, it runs as the
 * {@code postgres} user (or {@code nobody}), since PostgreSQL refuses to run as root.</p>
 */
public class PostgresServer implements AutoCloseable
{
    public static final String USER = "itk";
    /** Longest wait for the server to start or stop: a hang guard. */
    private static final int TIMEOUT_SECONDS = 120;

    private final Path binaries;
    private final Path directory;
    private final Path data;
    private final String password;
    private final int port;
    private final List<String> runAs;

    /**
     * @return the directory of {@code initdb} and {@code pg_ctl}, or null if PostgreSQL is not installed
     */
    public static Path findBinaries() throws IOException
    {
        // Debian keeps them off the PATH, one directory per major version: take the newest.
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian))
        {
            List<Path> versions = new ArrayList<>();
            try (DirectoryStream<Path> list = Files.newDirectoryStream(debian))
            {
                list.forEach(versions::add);
            }
            versions.sort(Comparator.comparing((Path version) -> version.getFileName().toString().length()).thenComparing(Path::toString).reversed());
            for (Path version : versions)
            {
                if (Files.isExecutable(version.resolve("bin/initdb")) && Files.isExecutable(version.resolve("bin/pg_ctl")))
                    return version.resolve("bin");
            }
        }
        for (String entry : System.getenv().getOrDefault("PATH", "").split(":"))
        {
            if (!entry.isEmpty() && Files.isExecutable(Path.of(entry, "initdb")) && Files.isExecutable(Path.of(entry, "pg_ctl")))
                return Path.of(entry);
        }
        return null;
    }

    public PostgresServer(Path binaries) throws Exception
    {
        this.binaries = binaries;
        password = UUID.randomUUID().toString().replace("-", "");
        port = freePort();
        directory = Files.createTempDirectory("itk-postgres-");
        data = directory.resolve("data");
        Path passwordFile = directory.resolve("password");
        Files.writeString(passwordFile, password + "\n");
        runAs = new ArrayList<>();
        if (ItkTestServer.isRoot())
        {
            int[] ids = serverIds();
            for (Path path : List.of(directory, passwordFile))
            {
                Files.setAttribute(path, "unix:uid", ids[0]);
                Files.setAttribute(path, "unix:gid", ids[1]);
            }
            runAs.addAll(List.of(ProcessWorkerLauncher.SETPRIV, "--reuid=" + ids[0], "--regid=" + ids[1], "--clear-groups", "--"));
        }
        Files.setPosixFilePermissions(directory, PosixFilePermissions.fromString("rwx------"));
        try
        {
            run("initdb", "-D", data.toString(), "-U", USER, "--auth=scram-sha-256", "--pwfile=" + passwordFile, "-E", "UTF8", "--locale=C");
            run("pg_ctl", "-D", data.toString(), "-l", directory.resolve("server.log").toString(), "-w", "-t", Integer.toString(TIMEOUT_SECONDS),
                "-o", "-p " + port + " -k " + directory + " -c listen_addresses=127.0.0.1", "start");
        }
        catch (Exception x)
        {
            close();
            throw x;
        }
    }

    /**
     * @return the uid and gid of the {@code postgres} user, else of {@code nobody}
     */
    private static int[] serverIds() throws Exception
    {
        for (String user : List.of("postgres", "nobody"))
        {
            String uid = output("id", "-u", user);
            String gid = output("id", "-g", user);
            if (uid != null && gid != null)
                return new int[]{Integer.parseInt(uid), Integer.parseInt(gid)};
        }
        throw new IOException("no postgres or nobody user to run PostgreSQL as");
    }

    private static String output(String... command) throws Exception
    {
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        return process.waitFor() == 0 ? output : null;
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0))
        {
            return socket.getLocalPort();
        }
    }

    private void run(String binary, String... arguments) throws Exception
    {
        List<String> command = new ArrayList<>(runAs);
        command.add(binaries.resolve(binary).toString());
        command.addAll(List.of(arguments));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        // A directory the server's user may enter: it does not inherit root's.
        builder.directory(directory.toFile());
        builder.environment().put("LC_ALL", "C");
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS))
        {
            process.destroyForcibly();
            throw new IOException(binary + " did not finish: " + output);
        }
        if (process.exitValue() != 0)
            throw new IOException(command + " exited with " + process.exitValue() + ": " + output + serverLog());
    }

    private String serverLog() throws IOException
    {
        Path log = directory.resolve("server.log");
        return Files.exists(log) ? "\nserver log:\n" + Files.readString(log) : "";
    }

    public int port()
    {
        return port;
    }

    public String password()
    {
        return password;
    }

    /**
     * @return the JDBC URL of the {@code postgres} database, with the user and password
     */
    public String url()
    {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=" + USER + "&password=" + password;
    }

    @Override
    public void close() throws Exception
    {
        try
        {
            if (Files.exists(data.resolve("postmaster.pid")))
                run("pg_ctl", "-D", data.toString(), "-m", "immediate", "-w", "stop");
        }
        finally
        {
            try (Stream<Path> tree = Files.walk(directory))
            {
                for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.deleteIfExists(path);
                }
            }
        }
    }
}
