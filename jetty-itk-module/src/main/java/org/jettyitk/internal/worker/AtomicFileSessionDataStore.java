package org.jettyitk.internal.worker;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

import org.eclipse.jetty.session.AbstractSessionDataStoreFactory;
import org.eclipse.jetty.session.ObjectStreamSessionDataStore;
import org.eclipse.jetty.session.SessionContext;
import org.eclipse.jetty.session.SessionData;
import org.eclipse.jetty.session.SessionDataStore;
import org.eclipse.jetty.session.SessionManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A session store of one file per session, which any number of JVMs may share: the workers of a vhost
 * (several at once, or one after the other) all read and write the same directory.</p>
 * <p>Why not Jetty's {@code FileSessionDataStore}: it indexes the directory when it starts and looks sessions up
 * only in that index, so a worker never sees a session another running worker created; and it deletes a
 * session's file before it writes the new one (the name holds the expiry), so a request that reads the session
 * in between, in the same worker with no session cache or in another one, finds none and starts a new
 * session. Here:</p>
 * <ul>
 *   <li>the file's name is fixed ({@code <context>_<vhost>_<id>}), and it is read from disk on every load;</li>
 *   <li>a store writes a hidden temporary file in the same directory and renames it over the old one, which
 *   {@code rename(2)} does atomically: a reader sees the old session or the new one, never none, never half of
 *   one, even if the worker is killed mid-write (the temporary file is left, and swept later);</li>
 *   <li>a session id from a client that is not a plain name is never made into a path.</li>
 * </ul>
 * <p>The file holds a format version, the session's metadata and its attributes as Java serialization
 * ({@link ObjectStreamSessionDataStore}, with the webapp's class loader), so the attributes must be
 * {@code Serializable}.</p>
 */
public class AtomicFileSessionDataStore extends ObjectStreamSessionDataStore
{
    private static final Logger LOG = LoggerFactory.getLogger(AtomicFileSessionDataStore.class);
    /** The first int of every file: a file of another format is unreadable, not misread. */
    public static final int FORMAT = 0x49544b31;
    /** Temporary files start with this: they are hidden, and never a session's name. */
    public static final String TEMPORARY_PREFIX = ".tmp-";
    /** What a session id or context may be to become a file name: no separator, no leading dot. */
    /** Only the tenant's uid may list, read or write its sessions, whatever the worker's umask. */
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");
    private static final Pattern PLAIN_NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}");

    private final Path directory;
    private String prefix;

    /**
     * @param directory the directory of the files, created when the store starts if it does not exist
     */
    public AtomicFileSessionDataStore(Path directory)
    {
        this.directory = directory;
    }

    public Path getDirectory()
    {
        return directory;
    }

    @Override
    protected void doStart() throws Exception
    {
        prepareDirectory();
        super.doStart();
    }

    /**
     * Creates the directory, mode 0700, or takes the existing one once it has made it 0700: a directory, not a
     * link. The worker runs as the tenant: an earlier worker of the vhost created it, and the tenant could only
     * have replaced it with something of its own.
     */
    private void prepareDirectory() throws IOException
    {
        if (!Files.exists(directory, LinkOption.NOFOLLOW_LINKS))
            Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        PosixFileAttributes attributes = Files.readAttributes(directory, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!attributes.isDirectory())
            throw new IOException("session directory is not a directory: " + directory);
        if (!attributes.permissions().equals(OWNER_ONLY))
            Files.setPosixFilePermissions(directory, OWNER_ONLY);
    }

    @Override
    public void initialize(SessionContext context) throws Exception
    {
        super.initialize(context);
        // The context's path and host come from the app's configuration, not from clients: made plain, not refused.
        prefix = (context.getCanonicalContextPath() + "_" + context.getVhost()).replaceAll("[^A-Za-z0-9._-]", "_") + "_";
    }

    @Override
    public boolean isPassivating()
    {
        return true;
    }

    /**
     * @return the session's file, or null when the id cannot be a file name (it came from a client)
     */
    Path fileOf(String id)
    {
        if (id == null || !PLAIN_NAME.matcher(id).matches())
            return null;
        return directory.resolve(prefix + id);
    }

    @Override
    public boolean doExists(String id) throws Exception
    {
        SessionData data = doLoad(id);
        return data != null && !data.isExpiredAt(System.currentTimeMillis());
    }

    @Override
    public void doStore(String id, SessionData data, long lastSaveTime) throws Exception
    {
        Path file = fileOf(id);
        if (file == null)
            throw new IOException("session id is not a plain name: " + id);
        Path temporary = directory.resolve(TEMPORARY_PREFIX + UUID.randomUUID());
        try
        {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(temporary)))
            {
                write(out, data);
            }
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        catch (AtomicMoveNotSupportedException x)
        {
            Files.deleteIfExists(temporary);
            throw new IOException("session directory does not rename atomically: " + directory, x);
        }
        catch (Exception x)
        {
            Files.deleteIfExists(temporary);
            throw x;
        }
    }

    private void write(OutputStream stream, SessionData data) throws Exception
    {
        DataOutputStream out = new DataOutputStream(stream);
        out.writeInt(FORMAT);
        out.writeUTF(data.getId());
        out.writeUTF(data.getContextPath());
        out.writeUTF(data.getVhost());
        out.writeUTF(data.getLastNode() == null ? "" : data.getLastNode());
        out.writeLong(data.getCreated());
        out.writeLong(data.getAccessed());
        out.writeLong(data.getLastAccessed());
        out.writeLong(data.getCookieSet());
        out.writeLong(data.getExpiry());
        out.writeLong(data.getMaxInactiveMs());
        out.flush();
        serializeAttributes(data, stream);
    }

    @Override
    public SessionData doLoad(String id) throws Exception
    {
        Path file = fileOf(id);
        if (file == null)
            return null;
        try (InputStream stream = new BufferedInputStream(Files.newInputStream(file)))
        {
            return read(stream, id, file);
        }
        catch (NoSuchFileException x)
        {
            return null;
        }
    }

    private SessionData read(InputStream stream, String id, Path file) throws Exception
    {
        DataInputStream in = new DataInputStream(stream);
        int format = in.readInt();
        if (format != FORMAT)
            throw new IOException("not a session file of format " + Integer.toHexString(FORMAT) + ": " + file);
        String storedId = in.readUTF();
        if (!storedId.equals(id))
            throw new IOException("session file " + file + " holds session " + storedId);
        String contextPath = in.readUTF();
        String vhost = in.readUTF();
        String lastNode = in.readUTF();
        long created = in.readLong();
        long accessed = in.readLong();
        long lastAccessed = in.readLong();
        long cookieSet = in.readLong();
        long expiry = in.readLong();
        long maxInactive = in.readLong();
        SessionData data = newSessionData(id, created, accessed, lastAccessed, maxInactive);
        data.setContextPath(contextPath);
        data.setVhost(vhost);
        data.setLastNode(lastNode);
        data.setCookieSet(cookieSet);
        data.setExpiry(expiry);
        data.setLastSaved(Files.getLastModifiedTime(file).toMillis());
        deserializeAttributes(data, in);
        return data;
    }

    @Override
    public Set<String> doCheckExpired(Set<String> candidates, long time)
    {
        Set<String> expired = new HashSet<>();
        for (String id : candidates)
        {
            if (isExpired(id, time))
                expired.add(id);
        }
        return expired;
    }

    /**
     * @return whether the session is gone, expired at {@code time}, or unreadable (it is of no use to anyone)
     */
    private boolean isExpired(String id, long time)
    {
        try
        {
            SessionData data = doLoad(id);
            return data == null || data.isExpiredAt(time);
        }
        catch (Exception x)
        {
            LOG.warn("unreadable session {} counted as expired: {}", id, x.toString());
            return true;
        }
    }

    @Override
    public Set<String> doGetExpired(long time)
    {
        Set<String> expired = new HashSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, prefix + "*"))
        {
            for (Path file : files)
            {
                String id = file.getFileName().toString().substring(prefix.length());
                if (isExpired(id, time))
                    expired.add(id);
            }
        }
        catch (IOException x)
        {
            LOG.warn("cannot list the sessions in {}", directory, x);
        }
        return expired;
    }

    /**
     * Deletes the temporary files of stores that did not finish (a worker killed mid-write) before {@code time}.
     */
    @Override
    public void doCleanOrphans(long time)
    {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, TEMPORARY_PREFIX + "*"))
        {
            for (Path file : files)
            {
                if (Files.getLastModifiedTime(file).toMillis() < time)
                    Files.deleteIfExists(file);
            }
        }
        catch (IOException x)
        {
            LOG.warn("cannot sweep {}", directory, x);
        }
    }

    @Override
    public boolean delete(String id) throws Exception
    {
        Path file = fileOf(id);
        return file != null && Files.deleteIfExists(file);
    }

    @Override
    public String toString()
    {
        return "%s@%x[dir=%s]".formatted(getClass().getSimpleName(), hashCode(), directory);
    }

    /**
     * Makes the store of each {@code SessionHandler} that takes it from the server.
     */
    public static class Factory extends AbstractSessionDataStoreFactory
    {
        private final Path directory;

        public Factory(Path directory)
        {
            this.directory = directory;
        }

        public Path getDirectory()
        {
            return directory;
        }

        @Override
        public SessionDataStore getSessionDataStore(SessionManager manager)
        {
            AtomicFileSessionDataStore store = new AtomicFileSessionDataStore(directory);
            store.setGracePeriodSec(getGracePeriodSec());
            store.setSavePeriodSec(getSavePeriodSec());
            return store;
        }
    }
}
