package org.jettyitk.internal.wire;

/**
 * <p>The values of a vhost's {@code sessionStore}, as they travel to the worker in its {@link WorkerArguments}
 * ({@code --sessions}); the worker sets the store up ({@code org.jettyitk.internal.worker.WorkerSessions}).</p>
 */
public final class SessionStore
{
    /** The default store: files in the worker's home. */
    public static final String FILE = "file";
    /** No store: Jetty's default in-memory sessions, lost when the worker goes. */
    public static final String MEMORY = "memory";

    private SessionStore()
    {
    }

    /**
     * @param store {@value #FILE}, {@value #MEMORY} or the absolute path of a Jetty XML file
     * @return the store
     * @throws IllegalArgumentException naming a value that is none of these
     */
    public static String check(String store)
    {
        if (store == null || !(FILE.equals(store) || MEMORY.equals(store) || store.startsWith("/")))
            throw new IllegalArgumentException("session store is not " + FILE + ", " + MEMORY + " or the absolute path of a Jetty XML file: " + store);
        return store;
    }
}
