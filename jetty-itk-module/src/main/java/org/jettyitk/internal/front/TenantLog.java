package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;

import jnr.posix.FileStat;
import org.eclipse.jetty.util.thread.AutoLock;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.TrustedFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A vhost's log of its workers' stderr: one line per line the tenant printed, prefixed with the time and
 * pid, rotated past a size (one {@code .1} file kept), so a tenant printing without end fills a bounded amount
 * of disk.</p>
 * <p>The front writes the file as root, so every directory of its path must be owned by root and writable by
 * no one else ({@link TrustedFiles}): otherwise a tenant could put a link in the path and have root create or
 * rename files anywhere. The directory is then held open, and the file is opened, rotated and reopened by its
 * name in it, never following a link. The file is {@value #MODE_TEXT}, owned by root and the tenant's group:
 * the tenant may read its own log, other tenants may not.</p>
 * <p>A front that drops root ({@code frontUser}) can neither open nor rename files there: its logs are opened and
 * rotated by the spawner ({@link #throughSpawner}), which hands the descriptor over, under the rules of the
 * spawner's {@code LogFiles}.</p>
 */
public class TenantLog implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(TenantLog.class);
    public static final int MODE = 0640;
    private static final String MODE_TEXT = "0640";

    private final AutoLock lock = new AutoLock();
    private final Posix posix;
    private final Path file;
    private final long maxSize;
    private final Opener opener;
    private boolean closed;
    private int fd = -1;
    private long size;

    /**
     * Who opens the file for this log: the front itself while it is root, or the spawner.
     */
    public interface Opener extends AutoCloseable
    {
        /**
         * @return a descriptor of the log, open for appending: a regular file with the log's owner, group and mode
         */
        int open() throws IOException;

        /**
         * Renames the log to {@code NAME.1}, replacing it, and opens {@code NAME} anew.
         *
         * @return the new file's descriptor, as {@link #open()}
         */
        int rotate() throws IOException;

        @Override
        void close();
    }

    /**
     * @param file the log file; its directory is created if missing
     * @param maxSize the size past which it is rotated
     * @param gid the group of the file: the tenant's
     * @throws IOException if a directory of the path is not owned by root or writable by others, or the file
     * cannot be opened or is no regular file
     */
    public TenantLog(Path file, long maxSize, int gid) throws IOException
    {
        this(file, maxSize, new DirectOpener(Posix.get(), file, gid));
    }

    /**
     * @param file the log file, for messages
     * @param opener opens and rotates it; closed with this log, or now if the first open fails
     * @throws IOException if the file cannot be opened
     */
    public TenantLog(Path file, long maxSize, Opener opener) throws IOException
    {
        this.posix = Posix.get();
        this.file = file.toAbsolutePath().normalize();
        this.maxSize = maxSize;
        this.opener = opener;
        try
        {
            open(opener.open());
        }
        catch (IOException | RuntimeException x)
        {
            opener.close();
            throw x;
        }
    }

    /**
     * <p>A log the spawner opens and rotates, for a front that drops root. While the front is still root, the log's
     * directory is first allowed at the spawner; after the drop only a directory allowed before will do.</p>
     *
     * @param gid the group of the file: the tenant's
     * @throws IOException if the spawner refused the directory or the file, saying why
     */
    public static TenantLog throughSpawner(Path file, long maxSize, int gid, SpawnerLauncher spawner) throws IOException
    {
        Path absolute = file.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        if (parent == null || absolute.getFileName() == null)
            throw new IOException("log file " + file + " has no directory");
        // Only a root front may allow a directory: the spawner tells the two apart by the kernel's credentials.
        if (Posix.get().geteuid() == 0)
            spawner.allowLogDirectory(parent);
        return new TenantLog(absolute, maxSize, new Opener()
        {
            @Override
            public int open() throws IOException
            {
                return spawner.openLog(absolute, gid);
            }

            @Override
            public int rotate() throws IOException
            {
                return spawner.rotateLog(absolute, gid);
            }

            @Override
            public void close()
            {
            }

            @Override
            public String toString()
            {
                return "spawner " + spawner.getSpawnerPid();
            }
        });
    }

    private void open(int opened) throws IOException
    {
        try
        {
            FileStat stat = posix.fstat(opened);
            if (!stat.isFile())
                throw new IOException("log file " + file + " is not a regular file");
            size = stat.st_size();
            fd = opened;
        }
        catch (IOException x)
        {
            posix.close(opened);
            throw x;
        }
    }

    /**
     * Appends one line; on failure the line goes to the server log instead.
     */
    public void write(long pid, String line)
    {
        byte[] bytes = (Instant.now() + " [" + pid + "] " + line + "\n").getBytes(StandardCharsets.UTF_8);
        try (AutoLock ignored = lock.lock())
        {
            if (closed)
                throw new IOException("closed");
            if (fd < 0)
                open(opener.open());
            if (size + bytes.length > maxSize)
                rotate();
            posix.write(fd, bytes);
            size += bytes.length;
        }
        catch (IOException x)
        {
            LOG.warn("cannot write {}: {}; line was [{}] {}", file, x.toString(), pid, line);
        }
    }

    private void rotate() throws IOException
    {
        int old = fd;
        fd = -1;
        posix.close(old);
        open(opener.rotate());
    }

    @Override
    public void close()
    {
        try (AutoLock ignored = lock.lock())
        {
            // Closed once: a descriptor number closed twice may be another file's by then.
            if (fd >= 0)
                posix.close(fd);
            fd = -1;
            if (!closed)
                opener.close();
            closed = true;
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s,max=%d,%s]".formatted(getClass().getSimpleName(), hashCode(), file, maxSize, opener);
    }

    /**
     * The front, as root, opens and rotates the log through a descriptor of its directory, held from the start.
     */
    private static final class DirectOpener implements Opener
    {
        private final Posix posix;
        private final Path file;
        private final String name;
        private final int gid;
        private int directory;

        private DirectOpener(Posix posix, Path file, int gid) throws IOException
        {
            this.posix = posix;
            Path absolute = file.toAbsolutePath().normalize();
            Path parent = absolute.getParent();
            if (parent == null || absolute.getFileName() == null)
                throw new IOException("log file " + file + " has no directory");
            Path directoryPath;
            try
            {
                directoryPath = TrustedFiles.createDirectories(parent);
            }
            catch (IOException x)
            {
                throw new IOException("log directory " + parent + " refused: " + x.getMessage(), x);
            }
            this.file = directoryPath.resolve(absolute.getFileName());
            this.name = absolute.getFileName().toString();
            this.gid = gid;
            this.directory = posix.openDirectory(directoryPath);
        }

        @Override
        public int open() throws IOException
        {
            int opened = posix.openForAppendAt(directory, name, MODE);
            try
            {
                FileStat stat = posix.fstat(opened);
                if (!stat.isFile())
                    throw new IOException("log file " + file + " is not a regular file");
                if (stat.nlink() != 1)
                    throw new IOException("log file " + file + " has " + stat.nlink() + " links");
                // A file from before (or a mode the umask changed) gets the log's owner, group and mode.
                posix.fchown(opened, Posix.UNCHANGED_ID, gid);
                posix.fchmod(opened, MODE);
                return opened;
            }
            catch (IOException x)
            {
                posix.close(opened);
                throw x;
            }
        }

        @Override
        public int rotate() throws IOException
        {
            posix.renameAt(directory, name, name + ".1");
            return open();
        }

        @Override
        public void close()
        {
            try
            {
                if (directory >= 0)
                    posix.close(directory);
            }
            catch (IOException x)
            {
                LOG.trace("IGNORED", x);
            }
            directory = -1;
        }

        @Override
        public String toString()
        {
            return "directly";
        }
    }
}
