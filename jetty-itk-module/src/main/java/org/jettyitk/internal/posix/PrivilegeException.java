package org.jettyitk.internal.posix;

/**
 * <p>A privilege drop that failed or could not be proven. The worker must not go on: it exits
 * with {@link #exitStatus()}, one of the {@code EXIT_*} constants of {@link PrivilegeDrop}, so
 * that the front can tell from the status alone what went wrong.</p>
 */
public final class PrivilegeException extends Exception
{
    private static final long serialVersionUID = 1L;

    private final int exitStatus;

    PrivilegeException(int exitStatus, String message)
    {
        this(exitStatus, message, null);
    }

    PrivilegeException(int exitStatus, String message, Throwable cause)
    {
        super(message, cause);
        this.exitStatus = exitStatus;
    }

    /**
     * @return the status the worker process exits with
     */
    public int exitStatus()
    {
        return exitStatus;
    }
}
