package org.jettyitk.internal.launch;

import java.io.IOException;

import org.jettyitk.internal.wire.WorkerArguments;

/**
 * <p>Starts a worker process for an identity. The one place that needs privileges: behind this interface the
 * spawning can later move into a separate privileged spawner, so that the front parses HTTP as nobody.</p>
 * <p>The returned process's stdin and stdout are the protocol pipes; its stderr is the worker's log.</p>
 */
public interface WorkerLauncher
{
    /**
     * @param arguments whom to run as and what to deploy
     * @param workDirectory the worker's own directory (HOME, TMPDIR, cwd), owned by its identity
     * @return the started process
     * @throws IOException if the process could not be started
     */
    Process launch(WorkerArguments arguments, java.nio.file.Path workDirectory) throws IOException;
}
