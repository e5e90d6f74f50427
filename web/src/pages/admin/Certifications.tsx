// Placeholder until the tracks/certifications API lands.
import type { User } from '../../api/client';
import { Empty, Page } from '../../kit/page';
export function UserCertifications({ user }: { user: User }) {
  return <Empty>No certifications for {user.name}.</Empty>;
}
export function Certifications() {
  return <Page title="Certifications"><Empty>Coming.</Empty></Page>;
}
export function Tracks() {
  return <Page title="Specialist tracks"><Empty>Coming.</Empty></Page>;
}
