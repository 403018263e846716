namespace BottleneckPipeline.Runtime;

/// <summary>
/// One run at a time per workspace. The lock is an exclusively opened file, so the OS releases it
/// when the process dies, even by kill -9: a stale lock file never blocks the next run.
/// </summary>
public sealed class WorkspaceLock : IDisposable
{
    private readonly FileStream _stream;

    private WorkspaceLock(FileStream stream) => _stream = stream;

    public static WorkspaceLock Acquire(string workspace, string stage, TimeSpan wait)
    {
        Directory.CreateDirectory(workspace);
        var path = Path.Combine(workspace, ".lock");
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                fs.SetLength(0);
                var owner = System.Text.Encoding.UTF8.GetBytes($"{stage} pid {Environment.ProcessId}\n");
                fs.Write(owner);
                fs.Flush();
                return new WorkspaceLock(fs);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
            catch (IOException)
            {
                var holder = TryReadOwner(path);
                throw new LockHeldException(
                    $"workspace {workspace} is in use by another run ({holder}). Wait for it to finish, or stop it; " +
                    "a killed run releases the lock by itself.");
            }
        }
    }

    private static string TryReadOwner(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var r = new StreamReader(fs);
            return r.ReadLine() ?? "unknown";
        }
        catch (IOException) { return "unknown process"; }
    }

    public void Dispose() => _stream.Dispose();
}
