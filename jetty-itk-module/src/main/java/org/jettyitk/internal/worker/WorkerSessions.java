package org.jettyitk.internal.worker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.session.AbstractSessionDataStoreFactory;
import org.eclipse.jetty.session.DefaultSessionCache;
import org.eclipse.jetty.session.DefaultSessionCacheFactory;
import org.eclipse.jetty.session.ManagedSession;
import org.eclipse.jetty.session.SessionCache;
import org.eclipse.jetty.session.SessionCacheFactory;
import org.eclipse.jetty.session.SessionDataStoreFactory;
import org.eclipse.jetty.session.SessionManager;
import org.eclipse.jetty.util.resource.ResourceFactory;
import org.eclipse.jetty.xml.XmlConfiguration;
import org.jettyitk.internal.wire.SessionStore;

/**
 * <p>Where a worker keeps its app's HTTP sessions, so that they outlive the worker: an idle reap, a recycle, a
 * replaced vhost, a restarted front or a killed worker costs a user nothing but the next worker's cold start.</p>
 * <p>Jetty's own session machinery does the work: a {@code SessionHandler} that starts without a cache of its
 * own takes the {@link SessionCacheFactory} and the {@link SessionDataStoreFactory} beans of its server, as
 * Jetty's {@code session-cache-*} and {@code session-store-*} modules give them. This class puts them on the
 * worker's server before it starts, after the privilege drop: every file is created and written by the tenant's
 * uid, never by root.</p>
 * <table>
 *   <caption>The vhost's {@code sessionStore}</caption>
 *   <tr><th>value</th><th>data store</th><th>cache</th></tr>
 *   <tr><td>{@value SessionStore#FILE} (default)</td><td>{@link AtomicFileSessionDataStore} in {@code $HOME/}{@value #DIRECTORY_NAME},
 *   mode 0700, created by the worker</td><td>{@link #newWriteThroughCacheFactory()}</td></tr>
 *   <tr><td>{@value SessionStore#MEMORY}</td><td>none: Jetty's default, sessions die with the worker</td><td>Jetty's default</td></tr>
 *   <tr><td>an absolute path</td><td>what that Jetty XML file adds to the {@code Server}: it must add a
 *   {@link SessionDataStoreFactory}, such as Jetty's {@code JDBCSessionDataStoreFactory}</td><td>the file's
 *   {@link SessionCacheFactory} if it adds one, else {@link #newWriteThroughCacheFactory()}</td></tr>
 * </table>
 * <p>The XML file is evaluated here, as the tenant, never by the front: the front passes only its path. It sees
 * the worker's server as {@code <Configure id="Server">} and the properties {@value #VHOST_PROPERTY} and
 * {@value #DIRECTORY_PROPERTY}.</p>
 */
public final class WorkerSessions
{
    /** The directory of the session files, in the worker's home ({@code user.home}). */
    public static final String DIRECTORY_NAME = "sessions";
    /** A session XML file's property: the vhost's name. */
    public static final String VHOST_PROPERTY = "jetty.itk.vhost";
    /** A session XML file's property: the default store's directory, which the file may use for a store of its own. */
    public static final String DIRECTORY_PROPERTY = "jetty.itk.sessions.dir";

    private WorkerSessions()
    {
    }

    /**
     * <p>How long a session whose attributes did not change may go without being written again (Jetty's
     * {@code savePeriodSec}, set on a store whose XML leaves it at 0). A request's end would otherwise write the
     * session again for its access time alone, after its response: past another worker's newer write (a client
     * that went on to another front of a shared store at once), which it overwrote with older attributes. The
     * attributes themselves are written when they change, before the response is committed.</p>
     */
    public static final int SAVE_PERIOD_SECONDS = 10;

    /**
     * Puts the vhost's session cache and store factories on the worker's server. Runs as the tenant.
     *
     * @param server the worker's server, not started
     * @param store the vhost's session store ({@link SessionStore#check(String)})
     * @param vhost the vhost's name
     * @param home the worker's home, where the {@value #DIRECTORY_NAME} directory is
     */
    public static void configure(Server server, String store, String vhost, Path home) throws Exception
    {
        Path directory = home.resolve(DIRECTORY_NAME);
        switch (SessionStore.check(store))
        {
            case SessionStore.MEMORY ->
            {
                // Jetty's default: the SessionHandler makes its own in-memory cache and no store.
            }
            case SessionStore.FILE ->
            {
                // The store creates the directory when an app's SessionHandler starts with it: a static site gets none.
                server.addBean(new AtomicFileSessionDataStore.Factory(directory));
                server.addBean(newWriteThroughCacheFactory());
            }
            default ->
            {
                Path file = Path.of(store);
                // This runs as the tenant: a file only root may read is refused here, never read by the front.
                if (!Files.isReadable(file))
                    throw new IOException("not readable by this vhost's user: " + file);
                XmlConfiguration xml = new XmlConfiguration(ResourceFactory.root().newResource(file));
                xml.getIdMap().put("Server", server);
                xml.getProperties().put(VHOST_PROPERTY, vhost);
                xml.getProperties().put(DIRECTORY_PROPERTY, directory.toString());
                xml.configure(server);
                if (server.getBean(SessionDataStoreFactory.class) == null)
                    throw new IllegalStateException("session store " + store + " adds no " + SessionDataStoreFactory.class.getName() + " bean to the Server");
                if (server.getBean(SessionCacheFactory.class) == null)
                    server.addBean(newWriteThroughCacheFactory());
            }
        }
        for (AbstractSessionDataStoreFactory factory : server.getBeans(AbstractSessionDataStoreFactory.class))
        {
            if (factory.getSavePeriodSec() <= 0)
                factory.setSavePeriodSec(SAVE_PERIOD_SECONDS);
        }
    }

    /**
     * <p>The cache of a persistent store: it holds a session only while requests use it, and writes it before
     * the response is committed.</p>
     * <ul>
     *   <li>{@code flushOnResponseCommit}: a session changed by a request is in the store before the client sees
     *   the response, so a worker killed right after loses nothing it acknowledged (Jetty otherwise writes when
     *   the request ends, after the response is sent);</li>
     *   <li>{@code saveOnCreate}: a new session is in the store at once, before its id reaches the client;</li>
     *   <li>evicted when its last request ends: the next request reads it from the store, so it sees what
     *   another worker of the vhost, or of another front sharing the store, wrote meanwhile. Requests of one
     *   session that overlap in a worker share one copy: with no cache at all ({@code NullSessionCache}) each
     *   had its own, and the copy of a request that ended late overwrote what the next request had stored;</li>
     *   <li>{@code removeUnloadableSessions}: a session that cannot be read back (its classes changed) is removed,
     *   not failed on every request.</li>
     * </ul>
     */
    public static DefaultSessionCacheFactory newWriteThroughCacheFactory()
    {
        DefaultSessionCacheFactory cache = new DefaultSessionCacheFactory()
        {
            @Override
            public SessionCache newSessionCache(SessionManager manager)
            {
                return new EvictOnExitSessionCache(manager);
            }
        };
        cache.setEvictionPolicy(SessionCache.EVICT_ON_SESSION_EXIT);
        cache.setFlushOnResponseCommit(true);
        cache.setSaveOnCreate(true);
        cache.setRemoveUnloadableSessions(true);
        return cache;
    }

    /**
     * <p>Jetty's cache, evicting on exit, with the race of that policy closed: a request that finds its session in
     * the cache while the exit of another request evicts it gets {@code null} from Jetty's cache, and would start a
     * new session (seen: the second of two back-to-back requests lost its session). The eviction has saved and
     * removed the session by then: a second look loads it from the store.</p>
     */
    private static class EvictOnExitSessionCache extends DefaultSessionCache
    {
        private EvictOnExitSessionCache(SessionManager manager)
        {
            super(manager);
        }

        @Override
        protected ManagedSession getAndEnter(String id, boolean enter) throws Exception
        {
            ManagedSession session = super.getAndEnter(id, enter);
            return session != null ? session : super.getAndEnter(id, enter);
        }
    }
}
