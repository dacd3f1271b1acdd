package org.jettyitk.internal.worker;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.ContextHandler;
import org.eclipse.jetty.session.SessionData;
import org.eclipse.jetty.session.SessionDataStore;
import org.eclipse.jetty.session.SessionHandler;
import org.eclipse.jetty.util.component.LifeCycle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The session store's contract with the workers that share its directory, each server here standing for one
 * worker JVM: a session one writes is seen by another that started before it, a reader never misses a session
 * that is being rewritten, and a client's session id never becomes a path.</p>
 */
public class AtomicFileSessionDataStoreTest
{
    private static final int REWRITES = 500;
    private static final long MAX_INACTIVE_MS = TimeUnit.MINUTES.toMillis(30);

    private Path directory;
    private final List<Server> servers = new ArrayList<>();

    @BeforeEach
    public void createDirectory() throws Exception
    {
        directory = Files.createTempDirectory("itk-session-store-");
    }

    @AfterEach
    public void stop() throws Exception
    {
        servers.forEach(server -> LifeCycle.stop(server));
        try (Stream<Path> tree = Files.walk(directory))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    /**
     * @return the store of a started server whose context takes its session store from the factory, as in a worker
     */
    private SessionDataStore startWorker() throws Exception
    {
        Server server = new Server();
        SessionHandler sessions = new SessionHandler();
        ContextHandler context = new ContextHandler("/");
        context.setHandler(sessions);
        server.setHandler(context);
        server.addBean(new AtomicFileSessionDataStore.Factory(directory));
        servers.add(server);
        server.start();
        SessionDataStore store = sessions.getSessionCache().getSessionDataStore();
        assertTrue(store instanceof AtomicFileSessionDataStore, store::toString);
        return store;
    }

    private static SessionData newSession(SessionDataStore store, String id, int count)
    {
        long now = System.currentTimeMillis();
        SessionData data = store.newSessionData(id, now, now, now, MAX_INACTIVE_MS);
        data.setAttribute("count", count);
        return data;
    }

    @Test
    public void testSessionWrittenByOneWorkerIsSeenByAnotherAlreadyRunning() throws Exception
    {
        SessionDataStore first = startWorker();
        SessionDataStore second = startWorker();

        second.store("node0abc", newSession(second, "node0abc", 1));

        assertTrue(first.exists("node0abc"));
        SessionData loaded = first.load("node0abc");
        assertNotNull(loaded);
        assertEquals(1, loaded.getAttribute("count"));
        first.store("node0abc", newSession(first, "node0abc", 2));
        assertEquals(2, second.load("node0abc").getAttribute("count"));
    }

    @Test
    public void testReaderNeverMissesSessionBeingRewritten() throws Exception
    {
        SessionDataStore writer = startWorker();
        SessionDataStore reader = startWorker();
        writer.store("node0abc", newSession(writer, "node0abc", 0));

        CompletableFuture<Void> rewrites = CompletableFuture.runAsync(() ->
        {
            try
            {
                for (int count = 1; count <= REWRITES; count++)
                {
                    writer.store("node0abc", newSession(writer, "node0abc", count));
                }
            }
            catch (Exception x)
            {
                throw new IllegalStateException(x);
            }
        });
        int last = 0;
        while (!rewrites.isDone() || last < REWRITES)
        {
            SessionData loaded = reader.load("node0abc");
            assertNotNull(loaded, "the session was missing while being rewritten");
            int count = (Integer)loaded.getAttribute("count");
            assertTrue(count >= last, () -> "went back to " + count);
            last = count;
        }
        rewrites.get(30, TimeUnit.SECONDS);
        try (Stream<Path> files = Files.list(directory))
        {
            assertEquals(1, files.count(), "temporary files left");
        }
    }

    @Test
    public void testClientSessionIdNeverBecomesPath() throws Exception
    {
        SessionDataStore store = startWorker();
        Files.writeString(directory.resolveSibling(directory.getFileName() + "-outside"), "not a session");
        try
        {
            for (String id : List.of("../" + directory.getFileName() + "-outside", "a/b", ".hidden", "", "x".repeat(300)))
            {
                assertNull(store.load(id), id);
                assertFalse(store.exists(id), id);
                assertFalse(store.delete(id), id);
                Exception x = assertThrows(Exception.class, () -> store.store(id, newSession(store, id, 1)), id);
                assertTrue(messages(x).contains("session id is not a plain name: " + id), () -> messages(x));
            }
            try (Stream<Path> files = Files.list(directory))
            {
                assertEquals(0, files.count());
            }
        }
        finally
        {
            Files.deleteIfExists(directory.resolveSibling(directory.getFileName() + "-outside"));
        }
    }

    private static String messages(Throwable failure)
    {
        StringBuilder messages = new StringBuilder();
        for (Throwable x = failure; x != null; x = x.getCause())
        {
            messages.append(x).append('\n');
        }
        return messages.toString();
    }

    @Test
    public void testExpiredSessionsAreFoundOnDisk() throws Exception
    {
        SessionDataStore store = startWorker();
        SessionData expired = newSession(store, "node0old", 1);
        expired.setExpiry(System.currentTimeMillis() - 1000);
        store.store("node0old", expired);
        store.store("node0new", newSession(store, "node0new", 1));

        AtomicFileSessionDataStore files = (AtomicFileSessionDataStore)store;
        assertEquals(Set.of("node0old"), files.doGetExpired(System.currentTimeMillis()));
        assertEquals(Set.of("node0old", "node0gone"), files.doCheckExpired(Set.of("node0old", "node0new", "node0gone"), System.currentTimeMillis()));
    }
}
