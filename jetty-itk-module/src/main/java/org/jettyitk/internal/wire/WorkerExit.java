package org.jettyitk.internal.wire;

import org.jettyitk.internal.posix.PrivilegeDrop;

/**
 * <p>How a worker tells the front why it ended: its exit status, and, when it could not start, one line on its
 * stderr ({@link #FAILURE_PREFIX}) saying why. The front logs both with the exit and keeps the line for the status
 * page.</p>
 * <table>
 *   <caption>Exit statuses ({@code docs/protocol.md})</caption>
 *   <tr><th>status</th><th>{@link #describe(int)}</th></tr>
 *   <tr><td>{@value #NORMAL}</td><td>normal: EOF on stdin</td></tr>
 *   <tr><td>{@value #USAGE}</td><td>bad arguments</td></tr>
 *   <tr><td>{@value #DROP_FAILED}</td><td>privilege drop failed</td></tr>
 *   <tr><td>{@value #DROP_NOT_VERIFIED}</td><td>privilege drop not verified</td></tr>
 *   <tr><td>{@value #NOT_NATIVE}</td><td>native POSIX unavailable</td></tr>
 *   <tr><td>{@value #DEPLOY_FAILED}</td><td>app deploy failed (the app, its session store, or the temporary directory)</td></tr>
 *   <tr><td>128 + n</td><td>killed by signal n</td></tr>
 * </table>
 */
public final class WorkerExit
{
    /** The front closed the pipe: EOF on stdin, the server stopped. */
    public static final int NORMAL = 0;
    /** Bad or missing {@link WorkerArguments}. */
    public static final int USAGE = 64;
    /** A credential change failed: the worker may still hold privileges. */
    public static final int DROP_FAILED = PrivilegeDrop.EXIT_DROP_FAILED;
    /** The credentials after the drop are not the target's, or root is still reachable. */
    public static final int DROP_NOT_VERIFIED = PrivilegeDrop.EXIT_VERIFY_FAILED;
    /** Only jnr-posix's pure-Java fallback is available: nothing can be dropped nor proven. */
    public static final int NOT_NATIVE = PrivilegeDrop.EXIT_NOT_NATIVE;
    /** The app could not be deployed, its session store set up, or the worker's temporary directory created. */
    public static final int DEPLOY_FAILED = 73;
    /**
     * Starts the line a worker writes on its stderr just before it exits because it could not start, followed by
     * why, on one line: {@code itk-worker-failure: app not found: /srv/alice/site.war}. The front takes it only
     * from a worker that is not ready yet: later, tenant code could print anything.
     */
    public static final String FAILURE_PREFIX = "itk-worker-failure: ";
    /** Longest reason a failure line carries; the worker cuts longer ones, and so does the front. */
    public static final int MAX_FAILURE_LENGTH = 512;

    private WorkerExit()
    {
    }

    /**
     * @param status the exit value as Java reports it (128 + signal for a death by signal)
     * @return a description such as {@code status=71 (privilege drop not verified)} or {@code signal=9}
     */
    public static String describe(int status)
    {
        if (status > 128 && status < 160)
            return "signal=" + (status - 128);
        String meaning = switch (status)
        {
            case NORMAL -> "normal";
            case USAGE -> "bad arguments";
            case DROP_FAILED -> "privilege drop failed";
            case DROP_NOT_VERIFIED -> "privilege drop not verified";
            case NOT_NATIVE -> "native POSIX unavailable";
            case DEPLOY_FAILED -> "app deploy failed";
            default -> "error";
        };
        return "status=" + status + " (" + meaning + ")";
    }

    /**
     * @param reason what followed {@link #FAILURE_PREFIX}
     * @return the reason, cut to {@link #MAX_FAILURE_LENGTH}
     */
    public static String cut(String reason)
    {
        return reason.length() > MAX_FAILURE_LENGTH ? reason.substring(0, MAX_FAILURE_LENGTH) : reason;
    }
}
