import type { CommandModule } from 'yargs';
import { versionText } from '../../version.ts';

export const versionCommand: CommandModule = {
  command: 'version',
  describe: 'Print the version of actool and of the appc spec it implements',
  builder: (y) => y.example('$0 version', ''),
  handler: () => {
    process.stdout.write(versionText('actool'));
  },
};
